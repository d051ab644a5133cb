"""Helpers shared by the app's pages (not a page: Streamlit ignores subfolders of pages/)."""
