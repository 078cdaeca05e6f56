// A light watch load generator for the watch benchmarks (--client node; bench/_watchers.py):
// COUNT watch streams, PER_CONNECTION of them on each HTTP/2 connection (default 1: each stream
// its own connection), speaking gRPC over Node's built-in http2 module (nghttp2; no npm
// packages). It exists because on a 2-core machine Python gRPC watchers spend more CPU per
// delivery than the server does, so they, not the server, would set the latency.
//
//   node bench/watch_client.mjs configd|etcd HOST PORT COUNT REQUEST_HEX [PER_CONNECTION]
//
// configd: ConfigService.Watch, a server stream (REQUEST_HEX a WatchRequest, sent once, then
// half-closed). etcd: Watch.Watch, a bidirectional stream (REQUEST_HEX a create request; the
// request side stays open, as etcd ends a watch whose client half-closes).
//
// Talks to its parent in JSON lines. While opening it prints {"progress": ...} about once a
// second (streams ready, failed, the first errors), so a parent can say how far a run got when
// opening stalls; then {"ready": ...} once every stream has its first message (configd's
// snapshot, etcd's "created") or failed, with each stream's local TCP port ("ports"). It may
// then read {"groups": [LABEL per stream]} (answered {"grouped": N}): receipts are then kept
// per label, e.g. per server worker. It reads {"finish": LAST_REVISION, "wait_ms": N}; waits
// until every stream has LAST_REVISION or N ms pass; prints the report; exits on {"exit": true}.
// Receipt times are CLOCK_REALTIME nanoseconds (see anchor(): sub-millisecond), taken
// when a whole gRPC message has arrived, before it is parsed.
import http2 from "node:http2";
import readline from "node:readline";
import { performance } from "node:perf_hooks";

const [protocol, host, port, countArg, requestHex, perConnectionArg] = process.argv.slice(2);
const COUNT = Number(countArg);
const PER_CONNECTION = Math.max(1, Number(perConnectionArg ?? 1));
const OPEN_BATCH = 250;
const WATCH_PATH = {
  configd: "/configd.v1.ConfigService/Watch",
  etcd: "/etcdserverpb.Watch/Watch",
}[protocol];
if (WATCH_PATH === undefined) throw new Error(`unknown protocol ${protocol}`);

const request = Buffer.from(requestHex, "hex");
const frame = Buffer.alloc(5 + request.length);
frame.writeUInt32BE(request.length, 1);
request.copy(frame, 5);

// performance.timeOrigin is the wall clock read once at start, and can be milliseconds off
// CLOCK_REALTIME on a VM whose clock has since been slewed. So the monotonic clock is anchored
// to the wall clock at the instant Date.now() ticks over (exact to a few microseconds), and
// re-anchored every second, which bounds the drift between the two to well under 1 ms.
let anchorMs = 0;
let anchorMono = 0;
function anchor() {
  const start = Date.now();
  let now = start;
  while (now === start) now = Date.now(); // spins under 1 ms
  anchorMono = performance.now();
  anchorMs = now;
}
anchor();
setInterval(anchor, 1000).unref();
const nowNs = () => Math.round((anchorMs + (performance.now() - anchorMono)) * 1e6);

// -- the few protobuf fields read here (configd.v1.WatchResponse) -----------------------------

function varint(buf, pos) {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = buf[pos++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, pos];
    scale *= 128;
  }
}

// Calls visit(field, wireType, valueOrStart, end) for each field of the message in buf.
function fields(buf, start, end, visit) {
  let pos = start;
  while (pos < end) {
    let tag;
    [tag, pos] = varint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      let value;
      [value, pos] = varint(buf, pos);
      visit(field, wire, value, pos);
    } else if (wire === 2) {
      let length;
      [length, pos] = varint(buf, pos);
      visit(field, wire, pos, pos + length);
      pos += length;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`unexpected wire type ${wire}`);
    }
  }
}

// configd.v1.WatchResponse: snapshot = 1 (Snapshot.revision = 1), change_set = 2
// (ChangeSet.revision = 1, time = 7 as google.protobuf.Timestamp {seconds = 1, nanos = 2}),
// progress = 3.
function decodeConfigd(buf) {
  const out = { kind: "other", revision: 0, stampNs: 0 };
  fields(buf, 0, buf.length, (field, wire, a, b) => {
    if (wire !== 2 || field < 1 || field > 3) return;
    out.kind = field === 1 ? "snapshot" : field === 2 ? "change_set" : "progress";
    fields(buf, a, b, (f, w, x, y) => {
      if (f === 1 && w === 0) out.revision = x;
      if (field === 2 && f === 7 && w === 2) {
        let seconds = 0;
        let nanos = 0;
        fields(buf, x, y, (tf, tw, tv) => {
          if (tf === 1 && tw === 0) seconds = tv;
          if (tf === 2 && tw === 0) nanos = tv;
        });
        out.stampNs = seconds * 1e9 + nanos;
      }
    });
  });
  return out;
}

// etcdserverpb.WatchResponse: created = 3 (bool), canceled = 4, events = 11 (Event.kv = 2,
// KeyValue.mod_revision = 3). One message may carry several events; the last one's revision
// stands for the message (the benchmark writes one key, one event per revision).
function decodeEtcd(buf) {
  const out = { kind: "other", revision: 0, stampNs: 0 };
  fields(buf, 0, buf.length, (field, wire, a, b) => {
    if (field === 3 && wire === 0 && a) out.kind = "snapshot";
    if (field === 4 && wire === 0 && a) out.kind = "canceled";
    if (field === 11 && wire === 2) {
      out.kind = "change_set";
      fields(buf, a, b, (f, w, x, y) => {
        if (f !== 2 || w !== 2) return;
        fields(buf, x, y, (kf, kw, kv) => {
          if (kf === 3 && kw === 0) out.revision = kv;
        });
      });
    }
  });
  return out;
}

const decode = protocol === "etcd" ? decodeEtcd : decodeConfigd;

// -- the streams --------------------------------------------------------------------------------

const receipts = new Map(); // group label -> revision -> [receipt ns, ...]
const stamps = new Map(); // revision -> the change set's own time (ns)
const lastSeen = new Array(COUNT).fill(0);
const ports = new Array(COUNT).fill(0); // each stream's local TCP port (its connection's)
let groupOf = null; // stream index -> label, once the parent sent {"groups": ...}
const errors = [];
const sessions = [];
let failedStreams = 0;
let ready = 0;
let target = 0;
let complete = 0;
let onReady = null;
let onComplete = null;

function settle() {
  ready += 1;
  if (onReady && ready >= onReady.until) {
    const { resolve } = onReady;
    onReady = null;
    resolve();
  }
}

function connection(index) {
  const slot = Math.floor(index / PER_CONNECTION);
  if (sessions[slot] === undefined) {
    const session = http2.connect(`http://${host}:${port}`);
    sessions[slot] = session;
    session.on("connect", () => {
      const end = Math.min(COUNT, (slot + 1) * PER_CONNECTION);
      for (let i = slot * PER_CONNECTION; i < end; i++) ports[i] = session.socket.localPort;
    });
    // e.g. "connect EMFILE" (this process's open-file limit) or ECONNRESET
    session.on("error", (err) => errors.push(`connection ${slot}: ${err.message}`));
  }
  return sessions[slot];
}

function watch(index) {
  const session = connection(index);
  const stream = session.request({
    ":method": "POST",
    ":path": WATCH_PATH,
    "content-type": "application/grpc",
    te: "trailers",
  });
  let pending = Buffer.alloc(0);
  let gotSnapshot = false;
  stream.on("data", (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 5) {
      const length = pending.readUInt32BE(1);
      if (pending.length < 5 + length) break;
      const received = nowNs();
      const message = decode(pending.subarray(5, 5 + length));
      pending = pending.subarray(5 + length);
      if (message.kind === "snapshot" && !gotSnapshot) {
        gotSnapshot = true;
        lastSeen[index] = message.revision;
        settle();
      } else if (message.kind === "canceled") {
        errors.push(`watcher ${index}: the server canceled the watch`);
      } else if (message.kind === "change_set") {
        const group = groupOf === null ? "" : groupOf[index];
        let byRevision = receipts.get(group);
        if (byRevision === undefined) {
          byRevision = new Map();
          receipts.set(group, byRevision);
        }
        let bucket = byRevision.get(message.revision);
        if (bucket === undefined) {
          bucket = [];
          byRevision.set(message.revision, bucket);
        }
        if (message.stampNs && !stamps.has(message.revision)) {
          stamps.set(message.revision, message.stampNs); // not etcd's
        }
        bucket.push(received);
        lastSeen[index] = message.revision;
        if (target && message.revision >= target) {
          complete += 1;
          if (complete === COUNT && onComplete) onComplete();
        }
      }
    }
  });
  stream.on("trailers", (trailers) => {
    const status = trailers["grpc-status"];
    if (status !== undefined && status !== "0" && status !== "1") {
      errors.push(`watcher ${index}: grpc-status ${status} ${trailers["grpc-message"] ?? ""}`);
    }
  });
  stream.on("error", (err) => errors.push(`watcher ${index}: ${err.message}`));
  stream.on("close", () => {
    if (!gotSnapshot) {
      errors.push(`watcher ${index}: stream ended before its snapshot`);
      gotSnapshot = true;
      failedStreams += 1;
      settle();
    }
  });
  if (protocol === "etcd") stream.write(frame);
  else stream.end(frame);
}

function send(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function main() {
  const started = performance.now();
  const progress = setInterval(() => {
    send({ progress: { ready: ready - failedStreams, failed: failedStreams, errors: errors.slice(0, 5) } });
  }, 1000);
  for (let batchStart = 0; batchStart < COUNT; batchStart += OPEN_BATCH) {
    const batchEnd = Math.min(COUNT, batchStart + OPEN_BATCH);
    const opened = new Promise((resolve) => {
      onReady = { until: batchEnd, resolve };
    });
    for (let i = batchStart; i < batchEnd; i++) watch(i);
    if (ready < batchEnd) await opened;
    onReady = null;
  }
  clearInterval(progress);
  const failed = failedStreams;
  send({ ready: (performance.now() - started) / 1000, failed, errors: errors.slice(0, 20), ports });

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const command = JSON.parse(line);
    if (command.groups !== undefined) {
      groupOf = command.groups;
      send({ grouped: groupOf.length });
    } else if (command.finish !== undefined) {
      target = command.finish;
      complete = lastSeen.filter((seen) => seen >= target).length;
      if (complete < COUNT) {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, command.wait_ms);
          onComplete = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      send({
        opened: COUNT,
        failed,
        open_seconds: (performance.now() - started) / 1000,
        receipts: Object.fromEntries(
          [...receipts].map(([group, byRevision]) => [group, Object.fromEntries(byRevision)]),
        ),
        stamps: Object.fromEntries(stamps),
        complete: lastSeen.filter((seen) => seen >= target).length,
        errors: errors.slice(0, 20),
      });
    } else if (command.exit) {
      for (const session of sessions) session.destroy();
      process.exit(0);
    }
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
