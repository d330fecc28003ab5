"""Test doubles of Google APIs, throwaway servers and the helpers tests share."""
