"""Statutory letters of a disclosure application (issue 20, item 1): the kinds and the articles they rest on
(`kinds`), the letters, their numbers and the office's templates (`models`), what a letter says about its
ticket (`context`), the sandboxed DOCX rendering and the page layout (`render`), and the doors that issue
and serve a letter (`service`). docs/letters.md describes them for the office."""
