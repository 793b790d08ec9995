"""The execution stage: each submission's notebook in a fresh isolated child process
(``executor``), forked by warm workers (``pool``) inside a sandbox (``sandbox``), here
(``runners.LocalRunner``) or on a Dask cluster (``cluster``); what children report is read
back and validated (``events``); observations are stored by what decides them (``cache``)."""
