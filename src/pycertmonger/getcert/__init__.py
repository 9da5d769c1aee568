"""getcert: the command-line client of the certmonger D-Bus API."""
