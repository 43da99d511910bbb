"""Input files from strangers and the files we write: caps, bounded reads, atomic writes, locks."""
