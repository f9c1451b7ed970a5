"""Intake adapters: every channel normalises its input into one record and calls one service.

hotline, website, weibo, disclosure — one module per channel; formats (CSV/XLSX, dates), idnumbers,
records (the shared record and how it is applied), importer (files), apikeys, duplicates, convert.
"""
