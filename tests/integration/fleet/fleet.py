#!/usr/bin/python3
"""fleet.py - fleet budgets across three simulated hosts sharing one Redis (issue 14).

A real redis-server on a free port of the sandbox's loopback, without persistence. Each
simulated host is a state directory, a config (fleet.host_id h1..h3) and its own akcollector;
each runs PROCS agent processes (enforce/agent.py, Python's ssl = the system libssl the shim
hooks) calling the mock. Every process this script starts has its clock pinned
(AGENTKAVACH_FAKE_NOW_MS, standing still at noon of the run's day); Redis's own clock only
paces TTLs.

Phases:
  topup     a limit far above what the calls cost and a lease of about two calls: every call
            is answered (the shim waits for the collector's top-ups instead of refusing), and
            the hosts' leases grew past one chunk.
  rounds    ROUNDS rounds, each on a fresh fleet budget that fits about 40 % of the calls: the
            sum of every host's event costs never exceeds the limit, equals the mock's own
            total and the fleet total in Redis (sum of s:<host>); the refused calls are
            refused with the fleet message and only when the fleet was nearly spent (at most
            (hosts - 1) x chunk idle plus the calls in flight).
            Round 2 and every third after it are fault rounds: Redis is SIGKILLed and restarted
            empty mid-round, and host 2's collector is SIGKILLed and restarted.
  dead      a host's collector is SIGKILLed while it holds a lease: after lease.ttl another
            host's collector reclaims it (l:h3 = s:h3 in Redis, akctl fleet says "alive":
            false), and the amount is leasable again.
  errors    Redis gone and the lease spent: hold refuses with the fleet message, open lets the
            call through with the event flagged; Redis back (empty): the host's total, what
            it spent meanwhile included, is in Redis once.
Usage: fleet.py ROUNDS   (inside the sandbox)
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "enforce"))
import ekit  # noqa: E402

sys.path.insert(0, os.path.dirname(ekit.IT))
import akclock  # noqa: E402

R = ekit.R
HOSTS = 3
PROCS = 4
CALLS = 6
MAX_TOKENS = 12
TTL_S = 2
LEDGER_WAIT_MS = 5000
WAIT_CAP_S = 30             # waits end when their condition holds; this is only a cap for a loaded machine
# Every process gets one clock standing still at noon of the run's day (akclock): a lease is
# valid for ttl / 2 of the host's clock, and a standing clock keeps a loaded machine's slow
# heartbeat from expiring it (Redis paces the TTLs on its own clock).
NOW_MS = akclock.noon_of(akclock.now_ms())
PROMPT = "Write one line about fleets. TAG=%s"
REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"
COLLECTOR = os.path.join(ekit.AK_BUILD, "akcollector")
READY_TRIES = 100
READY_NAP_S = 0.05
PERIOD = akclock.day_text(NOW_MS)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def redis_env():
    """Redis and redis-cli run on the machine's own clock: libfaketime (CI's second pass)
    hangs their event loops, and Redis only paces TTLs with it."""
    env = dict(os.environ)
    for k in list(env):
        if k == "LD_PRELOAD" or k.startswith("FAKETIME") or k.startswith("DONT_FAKE"):
            env.pop(k)
    return env


class Redis:
    def __init__(self, work):
        self.port = free_port()
        self.work = work
        self.p = None

    def start(self):
        log = open(os.path.join(self.work, "redis.log"), "ab")
        self.p = subprocess.Popen([REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--dir", self.work],
                                  stdout=log, stderr=log, env=redis_env())
        for _ in range(READY_TRIES):
            if self.cli("PING").strip() == "PONG":
                return True
            time.sleep(READY_NAP_S)
        return False

    def kill(self):
        if self.p:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()
            self.p = None

    def cli(self, *args):
        try:
            p = subprocess.run([REDIS_CLI, "-p", str(self.port), "--raw"] + list(args),
                               capture_output=True, timeout=10, env=redis_env())
        except subprocess.TimeoutExpired:
            return ""
        return p.stdout.decode(errors="replace")

    def budget(self, name):
        """{"l": {host: lease}, "s": {host: spent}} of a shared fleet budget."""
        out = self.cli("HGETALL", "agentkavach:b:s:%s:%s" % (name, PERIOD)).split("\n")
        d = {"l": {}, "s": {}}
        for k, v in zip(out[0::2], out[1::2]):
            if k[:2] in ("l:", "s:"):
                d[k[0]][k[2:]] = int(v)
        return d


ALL_HOSTS = []                    # every host made, so that no collector outlives the test


class Host:
    """One simulated host: its own state dir, config and collector."""

    def __init__(self, idx, redis, budget, limit, chunk, extra="", on_error="hold",
                 wait_ms=100, low_water=0.25):
        self.id = "h%d" % idx
        self.agents = ["fl%d-%s-p%d" % (idx, budget, i) for i in range(PROCS)]
        body = ("shared_budgets:\n  %s:\n    budget: { type: daily, limit: %s, scope: fleet }\n"
                "    agents: [%s]\nagents:\n%s"
                "fleet:\n  redis: { url: \"redis://127.0.0.1:%d\", connect_timeout_ms: 300 }\n"
                "  lease: { chunk_usd: %s, low_water: %s, wait_ms: %d, ttl: %d }\n"
                "  on_fleet_error: %s\n  host_id: %s\n"
                # a loaded CI machine can hold LMDB's write lock past the default 50 ms, and
                # then a call goes out unreserved (on_error: open): not what this test is about
                "limits:\n  ledger_wait_ms: %d\n%s"
                % (budget, ekit.usd(limit), ", ".join(self.agents),
                   "".join("  %s: { budget: none }\n" % a for a in self.agents), redis.port,
                   ekit.usd(chunk), low_water, wait_ms, TTL_S, on_error, self.id,
                   LEDGER_WAIT_MS, extra))
        self.sc = ekit.Scene("fleet-" + self.id, body)
        self.collector = None
        ALL_HOSTS.append(self)

    def env(self, agent=None):
        env = self.sc.env(agent) if agent else ekit.akcheck.base_env()
        env.update(AGENTKAVACH_FAKE_NOW_MS=akclock.fixed(NOW_MS), AGENTKAVACH_CONFIG=self.sc.config,
                   AGENTKAVACH_STATE_DIR=self.sc.state)
        return env

    def start_collector(self):
        env = self.env()
        env["AGENTKAVACH_LOG"] = "warn"
        log = open(os.path.join(self.sc.work, "collector.log"), "ab")
        self.collector = subprocess.Popen([COLLECTOR, "--config", self.sc.config], env=env,
                                          stdout=log, stderr=log)

    def stop_collector(self, sig=signal.SIGTERM):
        if self.collector:
            self.collector.send_signal(sig)
            try:
                self.collector.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.collector.kill()
                self.collector.wait()
            self.collector = None

    def akctl_json(self, *args):
        rc, out, _ = self.sc.akctl(*args, env_extra={"AGENTKAVACH_FAKE_NOW_MS": akclock.fixed(NOW_MS)})
        try:
            return json.loads(out) if rc == 0 else None
        except ValueError:
            return None

    def events(self):
        return self.sc.events()


def wait_for(pred, timeout_s):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(READY_NAP_S)
    return pred()


def start_agents(hosts, tagpfx):
    procs = []
    for h in hosts:
        for a in h.agents:
            tags = [ekit.uniq_tag(tagpfx) for _ in range(CALLS)]
            spec, _ = h.sc.spec([("openai", "chat", False, PROMPT % t, {"max_tokens": MAX_TOKENS})
                                 for t in tags])
            procs.append((h, tags, ekit.start("agent", spec, h.env(a))))
    return procs


def finish(procs):
    outs = []
    for h, tags, p in procs:
        try:
            out, err = p.communicate(timeout=ekit.RUN_TIMEOUT_S * 2)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        outs.append((h, tags, out, err))
    return outs


def statuses(outs):
    return [s for _, _, _, e in outs for s in ekit.re.findall(r"^status: (\d+)$", e.decode(), ekit.re.M)]


def event_totals(hosts):
    """Sum of cost over every host's events (micro-USD), the events, and any error text."""
    total, evs, errs = 0, [], []
    for h in hosts:
        e, err = h.events()
        if err:
            errs.append(err)
        evs += e
        total += sum(round((x.get("cost_usd") or 0) * 1e6) for x in e)
    return total, evs, errs


def one_cost():
    return ekit.predicted_cost_micros("openai", "chat", PROMPT % ("x" * 9), MAX_TOKENS)


def one_reserve():
    return ekit.predicted_reserve_micros("openai", "chat", PROMPT % ("x" * 9), MAX_TOKENS)


def hosts_up(redis, budget, limit, chunk, **kw):
    hosts = [Host(i + 1, redis, budget, limit, chunk, **kw) for i in range(HOSTS)]
    for h in hosts:
        h.start_collector()
    # every host holds a lease (after a fresh or emptied Redis, once its settle time passed)
    ok = wait_for(lambda: len([v for v in redis.budget(budget)["l"].values() if v > 0]) == HOSTS,
                  TTL_S * 5)
    return hosts, ok


# ---------------------------------------------------------------------------- phases

def phase_topup(redis):
    chunk = one_reserve() * 2
    limit = one_reserve() * HOSTS * PROCS * CALLS * 10
    hosts, up = hosts_up(redis, "topup", limit, chunk, wait_ms=2000, low_water=0.5)
    started = time.monotonic()
    outs = finish(start_agents(hosts, "t"))
    took = time.monotonic() - started
    for h in hosts:
        h.stop_collector()
    flat = statuses(outs)
    total, evs, errs = event_totals(hosts)
    rb = redis.budget("topup")
    leases = [rb["l"].get(h.id, 0) for h in hosts]
    problems = []
    if not up:
        problems.append("the collectors did not all take a lease")
    if flat.count("200") != HOSTS * PROCS * CALLS:
        problems.append("statuses %s; refusals: %s" % (
            sorted(set(flat)), [e.get("reason") for e in evs if e.get("decision") != "allowed"][:3]))
    if sum(rb["s"].values()) != total:
        problems.append("Redis total %d != events %d" % (sum(rb["s"].values()), total))
    if errs:
        problems.append("; ".join(errs))
    per_host = HOSTS * PROCS * CALLS / took / HOSTS if took > 0 else 0
    R.check(not problems, "fleet top-up: %d calls on 3 hosts, leases of ~2 calls topped up "
            "(spent per host %s micro-USD, chunk %d), none refused"
            % (len(flat), [rb["s"].get(h.id) for h in hosts], chunk), "\n".join(problems))
    R.note("fleet: %.1f calls/s per host through the TLS mock, 3 hosts x %d processes on one "
           "Redis (%.2f s for %d calls; the mock and Python start-up bound this, "
           "bench/fleet.sh measures the ledger path)" % (per_host, PROCS, took, len(flat)))
    return leases


def fault_round(n):
    return n == 2 or (n > 2 and n % 3 == 2)


def inject_faults(redis, hosts, procs, log, mark):
    """Mid-round: Redis SIGKILLed and restarted empty, host 2's collector SIGKILLed and
    restarted. Waits until about a third of the calls were answered first."""
    want = HOSTS * PROCS * CALLS // 6
    wait_for(lambda: len([r for r in log.since(mark) if r.get("kind") == "request"]) >= want, 20)
    redis.kill()
    time.sleep(0.3)
    hosts[1].stop_collector(signal.SIGKILL)
    ok = redis.start()
    time.sleep(0.2)
    hosts[1].start_collector()
    return ok


def round_once(redis, n):
    cost, reserve = one_cost(), one_reserve()
    limit = int(cost * HOSTS * PROCS * CALLS * 0.4) + cost // 2
    chunk = reserve * 3
    name = "team%d" % n
    hosts, up = hosts_up(redis, name, limit, chunk)
    mark = ekit.LOG.mark()
    started = time.monotonic()
    procs = start_agents(hosts, "r")
    faults = fault_round(n)
    redis_ok = inject_faults(redis, hosts, procs, ekit.LOG, mark) if faults else True
    outs = finish(procs)
    took = time.monotonic() - started
    for h in hosts:
        h.stop_collector()
    flat = statuses(outs)
    total, evs, errs = event_totals(hosts)
    mine = {t for _, tags, _, _ in outs for t in tags}
    answered = [r for r in ekit.LOG.since(mark) if r.get("kind") == "request" and r.get("tag") in mine]
    mock_total = sum(ekit.mock_cost_micros("openai", r) for r in answered)
    rb = redis.budget(name)
    redis_total = sum(rb["s"].values())
    blocked = [e for e in evs if e.get("decision") == "blocked_budget"]
    problems = []
    if not up or not redis_ok:
        problems.append("setup: collectors leased %s, redis restarted %s" % (up, redis_ok))
    if len(flat) != HOSTS * PROCS * CALLS or set(flat) - {"200", "429"}:
        problems.append("statuses: %d, kinds %s" % (len(flat), sorted(set(flat))))
    if total > limit:
        problems.append("fleet spend %d > limit %d micro-USD" % (total, limit))
    if total != mock_total or total != redis_total:
        problems.append("events %d, mock %d, Redis %d (%s) micro-USD"
                        % (total, mock_total, redis_total, rb["s"]))
    if len(blocked) != flat.count("429") or any("fleet budget" not in (e.get("reason") or "")
                                                 for e in blocked):
        problems.append("refusals: %d blocked events for %d 429s: %s"
                        % (len(blocked), flat.count("429"), ekit.ev_brief(blocked, 2)))
    idle_bound = (HOSTS - 1) * chunk + HOSTS * PROCS * reserve + chunk
    if blocked and not faults and total < limit - idle_bound:
        problems.append("refused while the fleet had room: spent %d of %d (bound %d)"
                        % (total, limit, idle_bound))
    if errs:
        problems.append("; ".join(errs))
    label = "fleet round %d%s (3 hosts x %d processes x %d calls, %.2f s)" % (
        n, " with Redis and a collector SIGKILLed" if faults else "", PROCS, CALLS, took)
    R.check(not problems, "%s: spend %d <= limit %d, events = mock = Redis total, %d refused"
            % (label, total, limit, len(blocked)), "\n".join(problems))


def phase_dead(redis):
    reserve = one_reserve()
    chunk = reserve * 4
    limit = chunk * HOSTS              # the three leases take the whole limit
    hosts, up = hosts_up(redis, "dead", limit, chunk)
    before = redis.budget("dead")

    def status_fleet():
        st = hosts[0].akctl_json("status", "--json") or {}
        rows = [b for b in st.get("shared_budgets", []) if b.get("name") == "dead"]
        return rows[0] if rows else {}
    # akctl status: host and fleet figures side by side, once h1's collector saw all three
    wait_for(lambda: (status_fleet().get("fleet") or {}).get("hosts_holding") == HOSTS, WAIT_CAP_S)
    sf = status_fleet()
    fl = sf.get("fleet") or {}
    status_ok = (sf.get("scope") == "fleet" and fl.get("hosts_holding") == HOSTS
                 and round(fl.get("host_leased_usd", 0) * 1e6) == chunk
                 and round(fl.get("leased_usd", 0) * 1e6) == limit
                 and round(fl.get("limit_usd", 0) * 1e6) == limit and fl.get("redis_down") is False)
    hosts[2].stop_collector(signal.SIGKILL)
    reclaimed = wait_for(lambda: redis.budget("dead")["l"].get("h3") == 0, WAIT_CAP_S)

    def h3_rows():
        st = hosts[0].akctl_json("fleet", "--json") or {}
        return [h for b in st.get("budgets", []) for h in b.get("hosts", []) if h.get("host") == "h3"]
    # h1's view is its collector's last sync (ledger meta): wait for its next heartbeat
    wait_for(lambda: any(r.get("alive") is False for r in h3_rows()), WAIT_CAP_S)
    rows = h3_rows()
    # host 1 spends past its own chunk: only possible with h3's lease back in the pool
    outs = finish(start_agents([hosts[0]], "d"))
    after = redis.budget("dead")
    for h in hosts[:2]:
        h.stop_collector()
    problems = []
    if not status_ok:
        problems.append("akctl status --json on h1: %s" % json.dumps(sf)[:600])
    if not up or before["l"].get("h3") != chunk:
        problems.append("h3 did not hold a lease first: %s" % before)
    if not reclaimed:
        problems.append("h3's lease not reclaimed after %d s: %s" % (WAIT_CAP_S, redis.budget("dead")))
    if not rows or rows[0].get("alive") is not False:
        problems.append("akctl fleet on h1 does not show h3 dead: %s" % rows)
    if after["l"].get("h1", 0) <= chunk:
        problems.append("h1 could not lease what h3 gave back: %s (statuses %s)"
                        % (after, statuses(outs)))
    R.check(not problems, "fleet dead host: akctl status shows 3 hosts holding the whole limit; "
            "h3's lease (%d micro-USD) came back after the TTL (%d s) and h1 leased it (h1 lease "
            "now %s)" % (chunk, TTL_S, after["l"].get("h1")),
            "\n".join(problems))


def phase_errors(redis):
    reserve = one_reserve()
    out = {}
    for mode in ("hold", "open"):
        h = Host(1, redis, "err" + mode, reserve * 100, reserve * 2, on_error=mode)
        h.start_collector()
        wait_for(lambda: redis.budget("err" + mode)["l"].get("h1"), 10)
        redis.kill()
        time.sleep(1.0)                # the collector notices at its next heartbeat
        outs = finish(start_agents_one(h))
        evs, _ = h.events()
        spent = sum(round((e.get("cost_usd") or 0) * 1e6) for e in evs)
        redis.start()                  # back, empty: the collector replays its total
        replayed = wait_for(lambda: redis.budget("err" + mode)["s"].get("h1") == spent, 10)
        h.stop_collector()
        out[mode] = (statuses(outs), evs, spent, replayed, redis.budget("err" + mode)["s"])
    hold_st, hold_ev = out["hold"][:2]
    open_st, open_ev = out["open"][:2]
    problems = ["%s: spent %d while Redis was down, Redis has %s after it came back"
                % (m, out[m][2], out[m][4]) for m in out if not out[m][3]]
    blocked = [e for e in hold_ev if e.get("decision") == "blocked_budget"]
    if hold_st.count("200") >= CALLS or not blocked or \
            "cannot be reached" not in (blocked[0].get("reason") or ""):
        problems.append("hold: statuses %s, %s" % (hold_st, ekit.ev_brief(hold_ev, 3)))
    flagged = [e for e in open_ev if "not enforced across hosts" in (e.get("reason") or "")]
    if open_st.count("200") != CALLS or not flagged or \
            any(e.get("decision") != "allowed" for e in open_ev):
        problems.append("open: statuses %s, %s" % (open_st, ekit.ev_brief(open_ev, 3)))
    R.check(not problems, "fleet Redis down: hold spends the lease (%d answered) then refuses "
            "(%d refused); open answers all %d, %d flagged; when Redis is back each host's "
            "total is replayed once (%d and %d micro-USD)"
            % (hold_st.count("200"), len(blocked), CALLS, len(flagged), out["hold"][2],
               out["open"][2]), "\n".join(problems))


def start_agents_one(h):
    tags = [ekit.uniq_tag("e") for _ in range(CALLS)]
    spec, _ = h.sc.spec([("openai", "chat", False, PROMPT % t, {"max_tokens": MAX_TOKENS})
                         for t in tags])
    return [(h, tags, ekit.start("agent", spec, h.env(h.agents[0])))]


def main(argv):
    rounds = int(argv[1]) if len(argv) > 1 else 1
    work = ekit.tempfile.mkdtemp(prefix="akfleet.", dir=ekit.akcheck.AK_TMP)
    redis = Redis(work)
    if not redis.start():
        R.check(False, "fleet: redis-server starts", open(os.path.join(work, "redis.log")).read())
        return 1
    try:
        phase_topup(redis)
        for n in range(1, rounds + 1):
            round_once(redis, n)
        phase_dead(redis)
        phase_errors(redis)
    finally:
        for h in ALL_HOSTS:
            h.stop_collector(signal.SIGKILL)
        redis.kill()
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
