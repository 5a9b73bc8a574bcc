"""Daily warnings, the quiz, the printable leaflet and spoken warnings: what reaches residents before they ask."""
