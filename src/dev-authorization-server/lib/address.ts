/**
 * Which IP addresses an outgoing fetch of a client metadata document may reach. Private to the
 * development authorization server.
 *
 * A client chooses the URL, so without this list it could make the server fetch from inside its own
 * network (SSRF): cloud instance metadata, an admin interface on 10.x, a database on loopback. Only
 * globally routable unicast addresses are fetched; loopback only when the operator allows it.
 *
 * @module
 */
import { BlockList, isIP } from "node:net";

/** Never fetched: every special-purpose range that is not globally reachable (IANA special-purpose registries). */
const FORBIDDEN = new BlockList();
// IPv4
FORBIDDEN.addSubnet("0.0.0.0", 8, "ipv4"); // "this network": 0.0.0.0 reaches local services
FORBIDDEN.addSubnet("10.0.0.0", 8, "ipv4"); // private (RFC 1918)
FORBIDDEN.addSubnet("100.64.0.0", 10, "ipv4"); // shared address space, CGNAT (RFC 6598); 100.100.100.200 = Alibaba metadata
FORBIDDEN.addSubnet("169.254.0.0", 16, "ipv4"); // link-local; 169.254.169.254 = AWS, GCP, Azure, OCI metadata
FORBIDDEN.addSubnet("172.16.0.0", 12, "ipv4"); // private (RFC 1918)
FORBIDDEN.addSubnet("192.0.0.0", 24, "ipv4"); // IETF protocol assignments
FORBIDDEN.addSubnet("192.0.2.0", 24, "ipv4"); // documentation (TEST-NET-1)
FORBIDDEN.addSubnet("192.88.99.0", 24, "ipv4"); // 6to4 relay anycast (deprecated)
FORBIDDEN.addSubnet("192.168.0.0", 16, "ipv4"); // private (RFC 1918)
FORBIDDEN.addSubnet("198.18.0.0", 15, "ipv4"); // benchmarking
FORBIDDEN.addSubnet("198.51.100.0", 24, "ipv4"); // documentation (TEST-NET-2)
FORBIDDEN.addSubnet("203.0.113.0", 24, "ipv4"); // documentation (TEST-NET-3)
FORBIDDEN.addSubnet("224.0.0.0", 4, "ipv4"); // multicast
FORBIDDEN.addSubnet("240.0.0.0", 4, "ipv4"); // reserved, and 255.255.255.255 broadcast
// IPv6 (IPv4-mapped ::ffff:a.b.c.d is matched against the IPv4 rules by BlockList itself)
FORBIDDEN.addAddress("::", "ipv6"); // unspecified
FORBIDDEN.addSubnet("::", 96, "ipv6"); // IPv4-compatible (deprecated): ::10.0.0.1 would bypass the IPv4 rules
FORBIDDEN.addSubnet("64:ff9b:1::", 48, "ipv6"); // local-use NAT64 (RFC 8215)
FORBIDDEN.addSubnet("100::", 64, "ipv6"); // discard-only
FORBIDDEN.addSubnet("2001::", 23, "ipv6"); // IETF protocol assignments (Teredo, ORCHID, …)
FORBIDDEN.addSubnet("2001:db8::", 32, "ipv6"); // documentation
FORBIDDEN.addSubnet("fc00::", 7, "ipv6"); // unique local (ULA); fd00:ec2::254 = AWS metadata over IPv6
FORBIDDEN.addSubnet("fe80::", 10, "ipv6"); // link-local
FORBIDDEN.addSubnet("fec0::", 10, "ipv6"); // site-local (deprecated)
FORBIDDEN.addSubnet("ff00::", 8, "ipv6"); // multicast

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** `[::1]` → `::1`; other hostnames unchanged. */
export function unbracket(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

/**
 * The IPv4 address embedded in a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address, else `undefined`:
 * such an address reaches whatever IPv4 address it carries, so it is judged by that address.
 */
export function embeddedIPv4(address: string): string | undefined {
  if (isIP(address) !== 6) return undefined;
  const groups = expandIPv6(address);
  if (!groups) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0))
    return v4(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return v4(groups[1]!, groups[2]!);
  return undefined;
}

/** Eight 16-bit groups of an IPv6 address (dotted IPv4 tails included), or `undefined`. */
function expandIPv6(address: string): number[] | undefined {
  let text = address.toLowerCase().replace(/%.*$/, "");
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split(".").map(Number) as [number, number, number, number];
    text = text.slice(0, -dotted[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const parse = (s: string) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = tail === undefined ? h : [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

function check(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  // BlockList also matches IPv4-mapped IPv6 (::ffff:169.254.169.254) against IPv4 rules.
  if (list.check(address, family === 6 ? "ipv6" : "ipv4")) return true;
  const inner = embeddedIPv4(address);
  return inner !== undefined && list.check(inner, "ipv4");
}

/**
 * Whether an IP address must never be fetched from: private (10/8, 172.16/12, 192.168/16), CGNAT
 * (100.64/10), link-local (169.254/16, fe80::/10), unique local (fc00::/7), unspecified, multicast,
 * documentation, reserved and the other special-purpose ranges, in any IPv6 form that carries them
 * (IPv4-mapped, IPv4-compatible, NAT64, 6to4). Loopback is separate: {@link isLoopbackAddress}.
 * Anything that is not an IP address, and any address with a zone index, is refused too.
 */
export function isForbiddenAddress(address: string): boolean {
  if (isIP(address) === 0) return true;
  // A zone index (fe80::1%eth0) only means something for link-local and interface-scoped addresses.
  if (address.includes("%")) return true;
  // ::1 lies inside the IPv4-compatible ::/96 block; it is loopback, judged by the caller's policy.
  return !isLoopbackAddress(address) && check(FORBIDDEN, address);
}

/** Whether an IP address is a loopback address (127.0.0.0/8, ::1, and their IPv4-mapped forms). */
export function isLoopbackAddress(address: string): boolean {
  return check(LOOPBACK, address);
}
