"""Batches: files of rows run through the services all or nothing (bulk imports today; bank-link
and partner settlement files next), with the file read bounded before anything in it is parsed."""
