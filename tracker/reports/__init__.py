"""The year-end annual report: figures in SQL, the official tables per format year, checks, exporters."""
