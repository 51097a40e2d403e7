"""Which engine runs a job: the engines there are (lineup), the one a request is routed to among those live
workers serve (fleet, web side), and the ones this worker resolves, loads and serves (served, worker side;
the only module here that imports engine code)."""
