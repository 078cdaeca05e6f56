"""gRPC servicers: check the request, call the service, convert the result."""
