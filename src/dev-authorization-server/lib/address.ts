/**
 * Which IP addresses an outgoing fetch of a client metadata document may reach. Private to the
 * development authorization server.
 *
 * @module
 */
import { BlockList, isIP } from "node:net";

/** Never fetched: link-local (cloud instance metadata lives there), cloud metadata, unspecified, multicast. */
const FORBIDDEN = new BlockList();
FORBIDDEN.addSubnet("169.254.0.0", 16, "ipv4"); // link-local; 169.254.169.254 = AWS, GCP, Azure, OCI metadata
FORBIDDEN.addSubnet("fe80::", 10, "ipv6"); // link-local
FORBIDDEN.addAddress("fd00:ec2::254", "ipv6"); // AWS instance metadata over IPv6
FORBIDDEN.addAddress("100.100.100.200", "ipv4"); // Alibaba Cloud instance metadata
FORBIDDEN.addSubnet("64:ff9b::a9fe:0", 112, "ipv6"); // NAT64 form of 169.254.0.0/16
FORBIDDEN.addSubnet("0.0.0.0", 8, "ipv4"); // "this host": 0.0.0.0 reaches local services
FORBIDDEN.addAddress("::", "ipv6");
FORBIDDEN.addSubnet("224.0.0.0", 4, "ipv4"); // multicast
FORBIDDEN.addSubnet("ff00::", 8, "ipv6");

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** `[::1]` → `::1`; other hostnames unchanged. */
export function unbracket(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

function check(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  // BlockList also matches IPv4-mapped IPv6 (::ffff:169.254.169.254) against IPv4 rules.
  return list.check(address, family === 6 ? "ipv6" : "ipv4");
}

/** Whether an IP address must never be fetched from (link-local, cloud metadata, unspecified, multicast). */
export function isForbiddenAddress(address: string): boolean {
  return check(FORBIDDEN, address);
}

/** Whether an IP address is a loopback address (127.0.0.0/8, ::1, and their IPv4-mapped forms). */
export function isLoopbackAddress(address: string): boolean {
  return check(LOOPBACK, address);
}
