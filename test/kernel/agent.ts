/**
 * A line-per-request helper process inside a lab namespace, for the differential tests (Node has
 * no packet or netlink sockets). Requests:
 * - `send`: write one Ethernet frame (IPv4 or IPv6 with correct checksums) on an interface; an
 *   IPv6 frame carries its `id` in the flow label and its `ttl` as the hop limit; with `target`,
 *   an ICMPv6 neighbour solicitation for it;
 * - `flush`: empty the namespace's conntrack table (both families) over ctnetlink;
 * - `run`: run a command;
 * - `sniff`: start reading every frame that arrives on the given interfaces (not the ones sent);
 *   `take` waits `ms` and returns the IPv4 and IPv6 frames read since the last take, decoded
 *   (an IPv6 frame's `id` is its flow label, its `ttl` the hop limit);
 * - `local`: send one packet from a socket of this namespace (UDP, a TCP SYN by a non-blocking
 *   connect, or an ICMP/ICMPv6 echo from a raw socket), optionally bound to a source, port and
 *   mark;
 *   the socket stays open until `close`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export { onPath } from '../lab/prerequisites.js';

const AGENT = String.raw`
import json, os, socket, struct, subprocess, sys, threading, time
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
socks = {}
def mac(s): return bytes(int(x, 16) for x in s.split(':'))
def send(p):
    iface = p['iface']
    if iface not in socks:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((iface, 0))
        socks[iface] = s
    if ':' in p['src']: return send6(p)
    src = socket.inet_aton(p['src']); dst = socket.inet_aton(p['dst']); proto = p['proto']
    if proto == 6:
        hdr = struct.pack('!HHIIBBHHH', p['sport'], p['dport'], 1000, p.get('ack', 0), 5 << 4, p['flags'], 65535, 0, 0)
        c = csum(src + dst + struct.pack('!BBH', 0, 6, len(hdr)) + hdr)
        l4 = hdr[:16] + struct.pack('!H', c) + hdr[18:]
    elif proto == 17:
        payload = b'hostcheck'
        hdr = struct.pack('!HHHH', p['sport'], p['dport'], 8 + len(payload), 0)
        c = csum(src + dst + struct.pack('!BBH', 0, 17, len(hdr) + len(payload)) + hdr + payload) or 0xffff
        l4 = hdr[:6] + struct.pack('!H', c) + payload
    elif proto == 1 and p.get('inner'):
        q = p['inner']
        isrc = socket.inet_aton(q['src']); idst = socket.inet_aton(q['dst'])
        if q['proto'] in (6, 17): il4 = struct.pack('!HHI', q['sport'], q['dport'], 1000)
        else: il4 = struct.pack('!BBHHH', 8, 0, 0, q.get('icmpId', 0), 1)
        iip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + 8 + 9, q['id'], 0x4000, q.get('ttl', 63), q['proto'], 0, isrc, idst)
        iip = iip[:10] + struct.pack('!H', csum(iip)) + iip[12:]
        body = struct.pack('!BBHHH', p['icmpType'], p['icmpCode'], 0, 0, p.get('mtu', 0)) + iip + il4
        l4 = body[:2] + struct.pack('!H', csum(body)) + body[4:]
    elif proto == 1:
        body = struct.pack('!BBHHH', p['icmpType'], p['icmpCode'], 0, p.get('icmpId', p['id']), 1) + b'hostcheck'
        l4 = body[:2] + struct.pack('!H', csum(body)) + body[4:]
    else:
        l4 = b'hostcheck'
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), p['id'], 0x4000, p.get('ttl', 64), proto, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    socks[iface].send(mac(p['dstMac']) + mac(p['srcMac']) + b'\x08\x00' + ip + l4)
def ip6(flow, nh, hop, src, dst, payload):
    return struct.pack('!IHBB16s16s', (6 << 28) | (flow & 0xfffff), len(payload), nh, hop, src, dst) + payload
def l4v6(src, dst, nh, body, at):
    c = csum(src + dst + struct.pack('!IxxxB', len(body), nh) + body)
    if nh == 17: c = c or 0xffff
    return body[:at] + struct.pack('!H', c) + body[at + 2:]
def send6(p):
    # IPv6: the flow label carries the frame's id (IPv6 has no IP id); the hop limit the TTL.
    src = socket.inet_pton(socket.AF_INET6, p['src']); dst = socket.inet_pton(socket.AF_INET6, p['dst']); proto = p['proto']
    if proto == 6:
        l4 = l4v6(src, dst, 6, struct.pack('!HHIIBBHHH', p['sport'], p['dport'], 1000, p.get('ack', 0), 5 << 4, p['flags'], 65535, 0, 0), 16)
    elif proto == 17:
        l4 = l4v6(src, dst, 17, struct.pack('!HHHH', p['sport'], p['dport'], 8 + 9, 0) + b'hostcheck', 6)
    elif proto == 58 and p.get('inner'):
        q = p['inner']
        isrc = socket.inet_pton(socket.AF_INET6, q['src']); idst = socket.inet_pton(socket.AF_INET6, q['dst'])
        if q['proto'] in (6, 17): il4 = struct.pack('!HHI', q['sport'], q['dport'], 1000)
        else: il4 = struct.pack('!BBHHH', 128, 0, 0, q.get('icmpId', 0), 1)
        inner = struct.pack('!IHBB16s16s', (6 << 28) | (q['id'] & 0xfffff), 8 + 9, q['proto'], q.get('ttl', 63), isrc, idst) + il4
        l4 = l4v6(src, dst, 58, struct.pack('!BBHI', p['icmpType'], p['icmpCode'], 0, p.get('mtu', 0)) + inner, 2)
    elif proto == 58 and p.get('target'):
        # A neighbour solicitation for target, with the sender's link-layer address.
        body = struct.pack('!BBHI16s', p['icmpType'], 0, 0, 0, socket.inet_pton(socket.AF_INET6, p['target'])) + struct.pack('!BB6s', 1, 1, mac(p['srcMac']))
        l4 = l4v6(src, dst, 58, body, 2)
    elif proto == 58:
        l4 = l4v6(src, dst, 58, struct.pack('!BBHHH', p['icmpType'], p['icmpCode'], 0, p.get('icmpId', p['id']), 1) + b'hostcheck', 2)
    else:
        l4 = b'hostcheck'
    socks[p['iface']].send(mac(p['dstMac']) + mac(p['srcMac']) + b'\x86\xdd' + ip6(p['id'], proto, p.get('ttl', 64), src, dst, l4))
def flush():
    # Family 0 (AF_UNSPEC): every connection, IPv4 and IPv6.
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
    s.bind((0, 0))
    s.send(struct.pack('=IHHII', 20, (1 << 8) | 2, 1 | 4, 1, 0) + struct.pack('=BBH', 0, 0, 0))
    err = struct.unpack('=i', s.recv(4096)[16:20])[0]
    s.close()
    if err != 0: raise Exception('conntrack flush failed: %d' % err)
seen = []
lock = threading.Lock()
def decode_l4(f, proto, l4):
    # Ports and TCP flags; ICMP/ICMPv6 type, code, echo id, and the id (IPv6: flow label) of the packet an error quotes.
    if proto in (6, 17) and len(l4) >= 4:
        f['sport'], f['dport'] = struct.unpack('!HH', l4[:4])
        if proto == 6 and len(l4) >= 14: f['flags'] = l4[13]
    elif proto in (1, 58) and len(l4) >= 8:
        f['icmpType'], f['icmpCode'] = l4[0], l4[1]
        f['icmpId'] = struct.unpack('!H', l4[4:6])[0]
        if proto == 1 and l4[0] in (3, 11, 12) and len(l4) >= 28: f['innerId'] = struct.unpack('!H', l4[12:14])[0]
        if proto == 58 and l4[0] < 128 and len(l4) >= 48: f['innerId'] = struct.unpack('!I', l4[8:12])[0] & 0xfffff
    return f
def decode(iface, data):
    if len(data) >= 54 and data[12:14] == b'\x86\xdd':
        ip = data[14:]
        f = {'iface': iface, 'src': socket.inet_ntop(socket.AF_INET6, ip[8:24]), 'dst': socket.inet_ntop(socket.AF_INET6, ip[24:40]), 'proto': ip[6], 'id': struct.unpack('!I', ip[0:4])[0] & 0xfffff, 'ttl': ip[7]}
        return decode_l4(f, ip[6], ip[40:])
    if len(data) < 34 or data[12:14] != b'\x08\x00': return None
    ip = data[14:]
    f = {'iface': iface, 'src': socket.inet_ntoa(ip[12:16]), 'dst': socket.inet_ntoa(ip[16:20]), 'proto': ip[9], 'id': struct.unpack('!H', ip[4:6])[0], 'ttl': ip[8]}
    return decode_l4(f, ip[9], ip[(ip[0] & 15) * 4:])
def sniffer(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((iface, 0))
    while True:
        data, addr = s.recvfrom(65535)
        if addr[2] == 4: continue
        f = decode(iface, data)
        if f is not None:
            with lock: seen.append(f)
local = []
def local_send(p):
    proto = p['proto']; dst = p['dst']
    v6 = ':' in dst
    af = socket.AF_INET6 if v6 else socket.AF_INET
    if proto in (1, 58):
        s = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    elif proto == 17:
        s = socket.socket(af, socket.SOCK_DGRAM)
    else:
        s = socket.socket(af, socket.SOCK_STREAM)
    local.append(s)
    if p.get('mark'): s.setsockopt(socket.SOL_SOCKET, 36, p['mark'])
    if p.get('oif'): s.setsockopt(socket.SOL_SOCKET, 25, p['oif'].encode())
    if p.get('ttl'):
        if v6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, p['ttl'])
        else: s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, p['ttl'])
    if p.get('src') or p.get('sport'):
        s.bind((p.get('src') or '', p.get('sport') or 0))
    try:
        if proto in (1, 58):
            # An ICMPv6 raw socket fills in the checksum itself.
            body = struct.pack('!BBHHH', 128 if v6 else 8, 0, 0, p['icmpId'], 1) + b'hostcheck'
            if not v6: body = body[:2] + struct.pack('!H', csum(body)) + body[4:]
            s.sendto(body, (dst, 0))
        elif proto == 17:
            s.sendto(b'hostcheck', (dst, p['dport']))
        else:
            s.setblocking(False)
            err = s.connect_ex((dst, p['dport']))
            if err not in (0, 115): return {'ok': True, 'errno': err}
        return {'ok': True, 'errno': 0}
    except OSError as e:
        return {'ok': True, 'errno': e.errno}
for line in sys.stdin:
    req = json.loads(line)
    try:
        op = req['op']
        if op == 'send':
            send(req); time.sleep(0.002); out = {'ok': True}
        elif op == 'flush':
            flush(); out = {'ok': True}
        elif op == 'sniff':
            for iface in req['ifaces']:
                threading.Thread(target=sniffer, args=(iface,), daemon=True).start()
            time.sleep(0.05); out = {'ok': True}
        elif op == 'take':
            time.sleep(req.get('ms', 0) / 1000.0)
            with lock:
                frames = list(seen); seen.clear()
            out = {'ok': True, 'frames': frames}
        elif op == 'local':
            out = local_send(req)
        elif op == 'close':
            for s in local: s.close()
            local.clear(); out = {'ok': True}
        else:
            r = subprocess.run(req['argv'], input=req.get('input', ''), capture_output=True, text=True)
            out = {'ok': r.returncode == 0, 'stdout': r.stdout, 'stderr': r.stderr}
    except Exception as e:
        out = {'ok': False, 'stderr': repr(e)}
    print(json.dumps(out), flush=True)
`;

export interface AgentReply {
  ok: boolean;
  stdout?: string;
  stderr?: string;
  errno?: number;
  frames?: SeenFrame[];
}

/** An IPv4 or IPv6 frame a sniffing agent read (IPv6: `id` is the flow label, `ttl` the hop limit). */
export interface SeenFrame {
  iface: string;
  src: string;
  dst: string;
  proto: number;
  id: number;
  ttl: number;
  sport?: number;
  dport?: number;
  flags?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  /** The IP id (IPv6: flow label) of the packet an ICMP error quotes. */
  innerId?: number;
}

export class Agent {
  private readonly proc: ChildProcessWithoutNullStreams;
  private buffer = '';
  private readonly waiting: ((reply: AgentReply) => void)[] = [];

  constructor(namespace: string) {
    this.proc = spawn('ip', ['netns', 'exec', namespace, 'python3', '-u', '-c', AGENT]);
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        this.waiting.shift()?.(JSON.parse(line) as AgentReply);
      }
    });
  }

  request(message: Record<string, unknown>): Promise<AgentReply> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.proc.stdin.write(`${JSON.stringify(message)}\n`);
    });
  }

  async run(argv: string[], input = ''): Promise<string> {
    const reply = await this.request({ op: 'run', argv, input });
    if (!reply.ok) throw new Error(`${argv.join(' ')} failed: ${reply.stderr}`);
    return reply.stdout ?? '';
  }

  async flush(): Promise<void> {
    const r = await this.request({ op: 'flush' });
    if (!r.ok) throw new Error(r.stderr);
  }

  close(): void {
    this.proc.stdin.end();
    this.proc.kill();
  }
}
