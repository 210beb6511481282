"""Exports off the request path: a list (or, later, a report) written to a file by a job, which its
requester downloads from "My exports"; large lists are never streamed by a web worker.
"""
