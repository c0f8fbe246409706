"""What comes into the farm: source packages and their signatures, and the
files a finished build uploads."""
