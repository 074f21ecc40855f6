/**
 * A service's client admission rules: `allow` and `deny` CIDR lists, deny wins,
 * an empty allow list admits everyone not denied.
 *
 * IPv4 clients match IPv4 rules in whichever form they come: a dual-stack
 * `[::]` listener reports an IPv4 client as `::ffff:10.0.0.1`, which is matched
 * as `10.0.0.1`. As in HAProxy, an IPv6 rule compares an IPv4 client as its
 * IPv4-mapped form, so `::ffff:10.0.0.0/104` is `10.0.0.0/8` and `::/0` is everyone.
 */
import { BlockList, isIP } from 'node:net';
import { SwitchyardError } from '../errors.js';
import { unmapIPv4 } from '../net/address.js';

interface Cidr {
  network: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses `addr/prefix` or a bare address (a single host); throws SWY_ERR_CONFIG_INVALID when it is neither. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const addr = (slash === -1 ? text : text.slice(0, slash)).trim();
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1).trim();
  const version = isIP(addr);
  const bad = (why: string) => new SwitchyardError('SWY_ERR_CONFIG_INVALID', `bad CIDR "${text}": ${why}`);
  if (version === 0) throw bad('not an IP address');
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText)) throw bad('the prefix length is not a number');
    prefix = Number(prefixText);
    if (prefix > max) throw bad(`the prefix length is over ${max}`);
  }
  return { network: addr, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

export class Acl {
  readonly #allow: BlockList | undefined;
  readonly #deny: BlockList | undefined;

  constructor(allow: readonly string[], deny: readonly string[]) {
    this.#allow = compile(allow);
    this.#deny = compile(deny);
  }

  /** True when there are no rules at all (admission can skip the check). */
  get open(): boolean {
    return this.#allow === undefined && this.#deny === undefined;
  }

  /** Whether a client address (as a socket reports it) may connect. */
  allows(address: string): boolean {
    if (this.open) return true;
    const ip = unmapIPv4(address);
    const family = isIP(ip) === 4 ? 'ipv4' : 'ipv6';
    if (this.#deny?.check(ip, family)) return false;
    return this.#allow === undefined || this.#allow.check(ip, family);
  }
}

function compile(cidrs: readonly string[]): BlockList | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const text of cidrs) {
    const c = parseCidr(text);
    list.addSubnet(c.network, c.prefix, c.family);
  }
  return list;
}
