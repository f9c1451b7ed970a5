"""Personal data: retention, anonymisation, finding and exporting what is held about a person."""
