"""A tiny grpcio server for our client's tests (generic handlers, raw bytes).

  /test.Echo/Echo   returns the request bytes
  /test.Echo/Big    returns N bytes of 'x', N the request's decimal text
  /test.Echo/Sleep  sleeps the request's decimal milliseconds, then echoes
Prints "PORT <n>" on stdout once serving; exits when stdin closes.
"""
import sys
import time
from concurrent import futures

import grpc


def echo(req, ctx):
    return req


def big(req, ctx):
    return b"x" * int(req.decode())


def sleep(req, ctx):
    time.sleep(int(req.decode()) / 1000.0)
    return req


class Handler(grpc.GenericRpcHandler):
    def service(self, details):
        fns = {"/test.Echo/Echo": echo, "/test.Echo/Big": big, "/test.Echo/Sleep": sleep}
        fn = fns.get(details.method)
        if fn is None:
            return None
        return grpc.unary_unary_rpc_method_handler(fn, request_deserializer=None, response_serializer=None)


def main():
    opts = [
        ("grpc.max_receive_message_length", 16 << 20),
        ("grpc.max_send_message_length", 16 << 20),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=opts)
    server.add_generic_rpc_handlers((Handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
