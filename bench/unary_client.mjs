// A light unary load generator (put_bench.py --client node, unary_floor.py): INFLIGHT calls at
// a time on one HTTP/2 connection, TOTAL calls in all, speaking gRPC over Node's built-in http2
// module (nghttp2; no npm packages). It exists for the same reason as watch_client.mjs: on a
// 2-core machine a Python gRPC client spends nearly as much CPU per call as the server does,
// so a lighter client leaves more of the machine to the server under test.
//
//   node bench/unary_client.mjs HOST PORT METHOD_PATH INFLIGHT TOTAL REQUESTS_FILE START_AT_MS
//
// REQUESTS_FILE holds serialized request messages, one hex string per line; the calls take
// them in turn. The load starts at START_AT_MS (epoch milliseconds) so that several client
// processes start together. Prints one JSON line: latencies (ms, in completion order),
// elapsed_s, cpu_s (this process), errors (the first few) and error_count.
import fs from "node:fs";
import http2 from "node:http2";
import { performance } from "node:perf_hooks";

const [host, port, path, inflightArg, totalArg, requestsFile, startAtArg] = process.argv.slice(2);
const INFLIGHT = Number(inflightArg);
const TOTAL = Number(totalArg);
const MAX_ERRORS_SHOWN = 5;

// Each request as a gRPC message frame: 1 byte "not compressed", 4 bytes length, the message.
const frames = fs
  .readFileSync(requestsFile, "utf8")
  .split("\n")
  .filter((line) => line.trim() !== "")
  .map((line) => {
    const message = Buffer.from(line.trim(), "hex");
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    return frame;
  });

const session = http2.connect(`http://${host}:${port}`);
const latencies = [];
const errors = [];
let errorCount = 0;
let started = 0;

function fail(message) {
  errorCount += 1;
  if (errors.length < MAX_ERRORS_SHOWN) errors.push(message);
}

// One call; resolves when its stream has closed, with the grpc-status checked.
function call() {
  const frame = frames[started % frames.length];
  started += 1;
  const begun = performance.now();
  return new Promise((resolve) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
    });
    let status;
    let message = "";
    const note = (headers) => {
      if (headers["grpc-status"] !== undefined) {
        status = headers["grpc-status"];
        message = headers["grpc-message"] ?? "";
      }
    };
    stream.on("response", note); // a trailers-only reply carries the status here
    stream.on("trailers", note);
    stream.on("data", () => {});
    stream.on("error", (err) => fail(err.message));
    stream.on("close", () => {
      latencies.push(performance.now() - begun);
      if (status !== "0") fail(`grpc-status ${status} ${decodeURIComponent(message)}`);
      resolve();
    });
    stream.end(frame);
  });
}

async function worker() {
  while (started < TOTAL) await call();
}

await new Promise((resolve, reject) => {
  session.once("connect", resolve);
  session.once("error", reject);
});
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAtArg) - Date.now())));
const cpuBefore = process.cpuUsage();
const began = performance.now();
await Promise.all(Array.from({ length: INFLIGHT }, worker));
const elapsed = (performance.now() - began) / 1000;
const cpu = process.cpuUsage(cpuBefore);
session.close();
console.log(
  JSON.stringify({
    latencies,
    elapsed_s: elapsed,
    cpu_s: (cpu.user + cpu.system) / 1e6,
    errors,
    error_count: errorCount,
  }),
);
