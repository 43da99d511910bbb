"""Serving a trained model: saving, loading, prediction, submissions, exports, the demo page."""
