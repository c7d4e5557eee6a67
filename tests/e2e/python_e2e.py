"""streamrec end to end, driven by clients streamrec did not write.

A redis-server of our own on a free loopback port, and `streamrec run
--embedded` on it (its Kafka is librdkafka's mock cluster, reached over TCP).
Click events go in through python's confluent-kafka, Avro-encoded by the avro
package with Confluent framing; recommendations come out of Redis through
redis-cli and out of reco.updates through a python consumer, decoded against
the schema file; the one malformed record must sit on the DLQ with
streamrec's headers. Then SIGTERM, and streamrec must exit 0.

The events have structure, so the checks can be about content: a crowd of
campers views tent -> sleeping-bag -> camp-stove, a crowd of tea drinkers
kettle -> teapot -> tea-leaves. Once the crowd is in, alice views the tent and
buys the stove, bob views the kettle: alice's list must hold sleeping-bag
(co-viewed with both her items) ahead of any tea item, and neither of her own
items; bob's must hold teapot.

Every wait is bounded polling; nothing sleeps for a fixed time to be right.
Run by tests/e2e/python_e2e.sh, which checks the prerequisites first.
"""
import argparse
import datetime
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import time

import avro.io
import avro.schema
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

# what the python tests share, found from this file: ctest runs it from the build directory
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from sr_harness import REDIS_LOG, WAIT_S, Daemon, Failure, Redis, check, log, wait_for  # noqa: E402

INPUT_TOPIC = "clicks"
RECO_TOPIC = "reco.updates"
DLQ_TOPIC = "clicks.dlq"
INPUT_SCHEMA_ID = 1  # any id: streamrec decodes every id with the built-in ClickEvent schema
RECO_SCHEMA_ID = 2   # the id streamrec frames reco.updates records with
RECO_K = 5           # fewer than the items each user has not seen: the list is a choice
POLL_S = 0.05        # finer than the harness's default: the whole test takes ~6 s

CAMPING = ["tent", "sleeping-bag", "camp-stove", "headlamp", "camping-chair"]
TEA = ["kettle", "teapot", "tea-leaves", "mug"]
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
T0_MS = (int(time.time()) - 3600) * 1000  # an hour ago: recent event time, whole seconds


# ---- input -----------------------------------------------------------------

class Stream:
    """The click events of the test, in production order and a second apart,
    and what each user did, to check the outputs against."""

    def __init__(self):
        self.events = []
        self.newest_ts_ms = {}
        self.seen = {}
        self.purchased = {}

    def add(self, user, item, event_type, category):
        ts_ms = T0_MS + 1000 * len(self.events)
        self.events.append({
            "event_id": f"e2e-{len(self.events)}",
            "user_id": user,
            "item_id": item,
            "event_type": event_type,
            "ts_ms": EPOCH + datetime.timedelta(milliseconds=ts_ms),
            "session_id": f"s-{user}",
            "category_id": category,
            "price": 49.5 if event_type == "PURCHASE" else None,
        })
        self.newest_ts_ms[user] = ts_ms
        self.seen.setdefault(user, set()).add(item)
        if event_type == "PURCHASE":
            self.purchased.setdefault(user, set()).add(item)

    def users(self, events=None):
        return sorted({e["user_id"] for e in (self.events if events is None else events)})


def planted_stream():
    """Returns the stream and where the newcomers' events start in it."""
    s = Stream()
    for n in range(1, 5):
        for item in CAMPING[:3]:
            s.add(f"camper-{n}", item, "VIEW", "camping")
    s.add("camper-1", "headlamp", "VIEW", "camping")
    s.add("camper-2", "camping-chair", "VIEW", "camping")
    for n in range(1, 4):
        for item in TEA[:3]:
            s.add(f"tea-{n}", item, "VIEW", "tea")
    s.add("tea-1", "mug", "ADD_TO_CART", "tea")
    newcomers_from = len(s.events)
    s.add("alice", "tent", "VIEW", "camping")
    s.add("alice", "camp-stove", "PURCHASE", "camping")
    s.add("bob", "kettle", "VIEW", "tea")
    return s, newcomers_from


def confluent_frame(schema_id, body):
    """Confluent wire format: magic byte 0, big-endian schema id, Avro body."""
    return b"\x00" + struct.pack(">I", schema_id) + body


def avro_encode(schema, datum):
    out = io.BytesIO()
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(out))
    return out.getvalue()


class Input:
    def __init__(self, bootstrap, schema):
        self.schema = schema
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self.delivered = {}  # (key, value) -> (partition, offset)
        self.errors = []

    def _on_delivery(self, err, msg):
        if err:
            self.errors.append(str(err))
        else:
            self.delivered[(msg.key(), msg.value())] = (msg.partition(), msg.offset())

    def produce(self, key, value, headers=None):
        self.producer.produce(INPUT_TOPIC, key=key, value=value, headers=headers,
                              on_delivery=self._on_delivery)

    def produce_events(self, events):
        for event in events:
            body = avro_encode(self.schema, event)
            self.produce(event["user_id"].encode(), confluent_frame(INPUT_SCHEMA_ID, body))

    def flush(self):
        left = self.producer.flush(WAIT_S)
        check(left == 0 and not self.errors,
              f"producing to {INPUT_TOPIC}: {left} records undelivered, errors {self.errors}")


# ---- outputs ---------------------------------------------------------------

def reco_json(redis, user):
    raw = redis.cli("GET", f"reco:{{{user}}}")
    return json.loads(raw) if raw else None


def wait_for_recos(redis, users, newest_ts_ms):
    """Until every user's reco:{user} is the list made after their newest
    event (the Redis writer keeps only newer lists, so it stays that way)."""
    def probe():
        docs = {u: reco_json(redis, u) for u in users}
        if all(d and d["event_ts_ms"] == newest_ts_ms[u] for u, d in docs.items()):
            return docs
        return None
    return wait_for(f"reco:{{user}} of {', '.join(users)} in Redis", probe, interval_s=POLL_S)


def check_reco_doc(user, doc, everything):
    items = [i["item_id"] for i in doc["items"]]
    check(doc["user_id"] == user, f"reco:{{{user}}} names user {doc['user_id']}")
    check(0 < len(items) <= RECO_K, f"reco:{{{user}}}: {len(items)} items, want 1..{RECO_K}")
    check(len(set(items)) == len(items), f"reco:{{{user}}}: repeated items {items}")
    known = set(CAMPING + TEA)
    check(set(items) <= known, f"reco:{{{user}}}: unknown items in {items}")
    bought = everything.purchased.get(user, set())
    check(not bought & set(items), f"reco:{{{user}}} recommends what {user} bought: {items}")
    # reco.exclude.seen is on by default, and these histories are short
    check(not everything.seen[user] & set(items),
          f"reco:{{{user}}} recommends items {user} has seen: {items}")
    return items


def decode_reco_record(schema, value):
    check(len(value) > 5 and value[0] == 0,
          f"{RECO_TOPIC}: record without the Confluent magic byte: {value[:8]!r}")
    schema_id = struct.unpack(">I", value[1:5])[0]
    check(schema_id == RECO_SCHEMA_ID,
          f"{RECO_TOPIC}: schema id {schema_id} in the framing, want {RECO_SCHEMA_ID}")
    reader = avro.io.DatumReader(schema)
    decoder = avro.io.BinaryDecoder(io.BytesIO(value[5:]))
    record = reader.read(decoder)
    check(decoder.reader.read() == b"", f"{RECO_TOPIC}: bytes left after the Avro record")
    return record


def ms(dt):
    return (dt - EPOCH) // datetime.timedelta(milliseconds=1)


def read_outputs(bootstrap, reco_schema, everything, want_dead_letters):
    """Reads reco.updates and the DLQ from the beginning until every user's
    newest update and the dead letters are there; checks every record."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-reader",
                         "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(timeout=10)
        parts = [TopicPartition(t, p, OFFSET_BEGINNING)
                 for t in (RECO_TOPIC, DLQ_TOPIC) for p in metadata.topics[t].partitions]
        consumer.assign(parts)  # no group join: nothing to wait for
        newest = {}  # user -> latest update (highest seq)
        dead_letters = []

        def complete():
            return (len(dead_letters) >= want_dead_letters and
                    all(u in newest and ms(newest[u]["event_ts_ms"]) == everything.newest_ts_ms[u]
                        for u in everything.users()))

        deadline = time.monotonic() + WAIT_S
        while not complete():
            check(time.monotonic() < deadline,
                  f"timed out reading {RECO_TOPIC} and {DLQ_TOPIC}: updates for "
                  f"{sorted(newest)}, {len(dead_letters)} dead letters")
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            check(not msg.error(), f"consumer: {msg.error()}")
            if msg.topic() == DLQ_TOPIC:
                dead_letters.append(msg)
                continue
            record = decode_reco_record(reco_schema, msg.value())
            user = record["user_id"]
            check(user in everything.newest_ts_ms, f"{RECO_TOPIC}: unknown user {user!r}")
            check(msg.key() == user.encode(), f"{RECO_TOPIC}: key {msg.key()!r} for user {user}")
            check(len(record["items"]) <= RECO_K,
                  f"{RECO_TOPIC}: {len(record['items'])} items for {user}, reco.k is {RECO_K}")
            if user not in newest or record["seq"] > newest[user]["seq"]:
                newest[user] = record
        return newest, dead_letters
    finally:
        consumer.close()


def header_map(msg):
    return {k: v.decode() for k, v in (msg.headers() or [])}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--streamrec", required=True, help="the streamrec binary")
    parser.add_argument("--schemas", required=True, help="the directory of the .avsc files")
    args = parser.parse_args()

    def schema(name):
        with open(os.path.join(args.schemas, name)) as f:
            return avro.schema.parse(f.read())
    click_schema = schema("click_event.avsc")
    reco_schema = schema("recommendation_update.avsc")

    workdir = tempfile.mkdtemp(prefix="streamrec-e2e-")
    redis = daemon = None
    try:
        redis = Redis(workdir)
        log(f"redis-server at {redis.url}")
        daemon = Daemon(args.streamrec, workdir, {"redis.url": redis.url, "reco.k": RECO_K})
        ready = daemon.wait_ready(interval_s=POLL_S)
        log(f"streamrec ready: {ready}")
        check(ready.get("redis") == redis.url,
              f"streamrec uses Redis {ready.get('redis')}, not ours at {redis.url}")
        stderr = daemon.stderr()
        check(f"streamrec: embedded Kafka at {ready['bootstrap']}\n" in stderr,
              "stderr lacks the 'streamrec: embedded Kafka at' line of the ready file's address")
        check(f"streamrec: Redis at {redis.url}\n" in stderr,
              "stderr lacks the 'streamrec: Redis at' line")

        # The crowd first, and only once its lists are out the newcomers:
        # partitions are read independently, so without the wait alice's
        # events could be applied before the co-views they should profit from.
        everything, newcomers_from = planted_stream()
        crowd = everything.events[:newcomers_from]
        newcomers = everything.events[newcomers_from:]
        kafka_in = Input(ready["bootstrap"], click_schema)
        kafka_in.produce_events(crowd)
        kafka_in.flush()
        log(f"produced {len(crowd)} events of {len(everything.users(crowd))} users")
        # A crowd user's newest list is in Redis only after all of their
        # events were applied: then the crowd's co-views are in the model.
        wait_for_recos(redis, everything.users(crowd), everything.newest_ts_ms)
        log("the crowd's recommendations are in Redis")

        kafka_in.produce_events(newcomers)
        # Malformed: framed like the others, but the Avro body ends inside
        # the first string (event_id's length says 6 bytes, 2 follow).
        malformed_value = confluent_frame(INPUT_SCHEMA_ID, b"\x0ce2")
        malformed_key = b"mallory"
        kafka_in.produce(malformed_key, malformed_value, headers=[("origin", b"python-e2e")])
        kafka_in.flush()
        log(f"produced {len(newcomers)} events of {everything.users(newcomers)} "
            "and one malformed record")
        docs = wait_for_recos(redis, everything.users(), everything.newest_ts_ms)
        log("every user's newest recommendations are in Redis")

        lists = {u: check_reco_doc(u, docs[u], everything) for u in everything.users()}
        for u in everything.users():
            ttl = int(redis.cli("TTL", f"reco:{{{u}}}") or "-3")
            check(ttl > 0, f"reco:{{{u}}} has TTL {ttl}")
        alice, bob = lists["alice"], lists["bob"]
        log(f"alice: {alice}; bob: {bob}")
        check("sleeping-bag" in alice, f"alice's list lacks sleeping-bag (co-viewed): {alice}")
        tea_ranks = [alice.index(i) for i in TEA if i in alice]
        check(all(alice.index("sleeping-bag") < r for r in tea_ranks),
              f"alice's list ranks a tea item above sleeping-bag: {alice}")
        check("teapot" in bob, f"bob's list lacks teapot (co-viewed with kettle): {bob}")
        neighbours = (redis.cli("ZREVRANGE", "sim:{tent}", "0", "-1") or "").split("\n")
        check("sleeping-bag" in neighbours, f"sim:{{tent}} lacks sleeping-bag: {neighbours}")

        newest, dead_letters = read_outputs(ready["bootstrap"], reco_schema, everything, 1)
        log(f"{RECO_TOPIC}: newest updates of {len(newest)} users; {DLQ_TOPIC}: "
            f"{len(dead_letters)} record(s)")
        for u, record in newest.items():
            items = [i["item_id"] for i in record["items"]]
            check(items == lists[u],
                  f"{RECO_TOPIC}'s newest list for {u} {items} differs from Redis's {lists[u]}")
        check(len(dead_letters) == 1, f"{DLQ_TOPIC}: {len(dead_letters)} records, want 1")
        dead = dead_letters[0]
        headers = header_map(dead)
        partition, offset = kafka_in.delivered[(malformed_key, malformed_value)]
        check(dead.key() == malformed_key and dead.value() == malformed_value,
              f"{DLQ_TOPIC}: the record is not the malformed one byte for byte: "
              f"{dead.key()!r} {dead.value()!r}")
        want = {"streamrec.error": "truncated", "streamrec.source.topic": INPUT_TOPIC,
                "streamrec.source.partition": str(partition),
                "streamrec.source.offset": str(offset), "origin": "python-e2e"}
        for name, value in want.items():
            check(headers.get(name) == value,
                  f"{DLQ_TOPIC}: header {name} is {headers.get(name)!r}, want {value!r} "
                  f"(headers: {headers})")
        check(headers.get("streamrec.error.message"),
              f"{DLQ_TOPIC}: no streamrec.error.message header ({headers})")
        del kafka_in  # our clients leave before the cluster does

        rc = daemon.stop()
        check(rc is not None, f"streamrec still running {WAIT_S} s after SIGTERM")
        check(rc == 0, f"streamrec exited with {rc} after SIGTERM, want 0")
        check(not os.path.exists(daemon.ready_path), "the ready file outlived streamrec")
        log("SIGTERM: streamrec exited 0")
        print("e2e: PASS")
        return 0
    except Failure as failure:
        print(f"e2e: FAIL: {failure}", file=sys.stderr)
        if daemon:
            print("---- streamrec stderr ----\n" + daemon.stderr()[-4000:], file=sys.stderr)
        redis_log = os.path.join(workdir, REDIS_LOG)
        if os.path.exists(redis_log):
            with open(redis_log, errors="replace") as f:
                print(f"---- {REDIS_LOG} (tail) ----\n" + f.read()[-2000:], file=sys.stderr)
        return 1
    finally:
        if daemon:
            daemon.kill()
        if redis:
            redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
