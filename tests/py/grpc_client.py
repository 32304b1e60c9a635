"""A grpcio client driven by a JSON spec on stdin; prints JSON results.

Spec: {"addr": "127.0.0.1:PORT", "calls": [CALL, ...]} where CALL is
  {"method": "/pkg.Svc/M", "request_hex": "..", "timeout": 5.0,
   "compression": "gzip" | null, "repeat": 1, "concurrent": 1,
   "stream": false, "max_messages": 1, "cancel_when_file": null}
All calls of the spec share ONE channel (one HTTP/2 connection).
Result per CALL: {"codes": {"OK": n, ...}, "first": {"code", "details",
"responses_hex"}} -- "first" is the first call's outcome.
Uses grpcio's generic API with raw bytes: no generated stubs.
"""
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import grpc


def one(channel, call):
    method = call["method"]
    req = bytes.fromhex(call.get("request_hex", ""))
    timeout = call.get("timeout", 10.0)
    compression = grpc.Compression.Gzip if call.get("compression") == "gzip" else None
    try:
        if call.get("stream"):
            fn = channel.unary_stream(method, request_serializer=None, response_deserializer=None)
            it = fn(req, timeout=timeout, compression=compression)
            out = []
            for msg in it:
                out.append(msg.hex())
                if len(out) >= call.get("max_messages", 1):
                    it.cancel()
                    break
            return {"code": "OK", "details": "", "responses_hex": out}
        fn = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        if call.get("cancel_when_file"):
            # Cancel once the server-side work has visibly started.
            fut = fn.future(req, timeout=timeout, compression=compression)
            deadline = time.monotonic() + timeout
            while not os.path.exists(call["cancel_when_file"]) and time.monotonic() < deadline:
                time.sleep(0.01)
            fut.cancel()
            try:
                resp = fut.result()
            except grpc.FutureCancelledError:
                return {"code": "CANCELLED", "details": "cancelled by client", "responses_hex": []}
            return {"code": "OK", "details": "", "responses_hex": [resp.hex()]}
        resp = fn(req, timeout=timeout, compression=compression)
        return {"code": "OK", "details": "", "responses_hex": [resp.hex()]}
    except grpc.RpcError as e:
        return {"code": e.code().name, "details": e.details() or "", "responses_hex": []}


def main():
    spec = json.load(sys.stdin)
    opts = [
        ("grpc.max_receive_message_length", 64 << 20),
        ("grpc.max_send_message_length", 64 << 20),
        ("grpc.enable_retries", 0),
    ]
    results = []
    with grpc.insecure_channel(spec["addr"], options=opts) as channel:
        for call in spec["calls"]:
            repeat = call.get("repeat", 1)
            concurrent = call.get("concurrent", 1)
            if concurrent > 1:
                with ThreadPoolExecutor(max_workers=concurrent) as pool:
                    outs = list(pool.map(lambda _: one(channel, call), range(repeat)))
            else:
                outs = [one(channel, call) for _ in range(repeat)]
            codes = {}
            for o in outs:
                codes[o["code"]] = codes.get(o["code"], 0) + 1
            results.append({"codes": codes, "first": outs[0]})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
