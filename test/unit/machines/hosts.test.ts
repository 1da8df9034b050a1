import { describe, expect, it } from 'vitest';
import { hostnamesFromMetadata, machineFromAgent, parseHostsFile, parseIp } from '../../../src/machines/index.js';
import { PI_HOSTS } from './fixture.js';

describe('hosts resolver file parsing (§3.3)', () => {
  it('reads privacyIDEA test data: id literal, hostnames list, normalised ip', () => {
    expect(parseHostsFile(PI_HOSTS)).toEqual([
      { id: '127.0.0.1', hostnames: ['localhost'], ip: '127.0.0.1' },
      { id: '192.168.0.1', hostnames: ['gandalf', 'whitewizard'], ip: '192.168.0.1' },
      { id: '192.168.0.2', hostnames: ['pippin'], ip: '192.168.0.2' },
      { id: '192.168.1.10', hostnames: ['borodin'], ip: '192.168.1.10' },
      { id: '192.168.10.10', hostnames: ['rgandalf-old'], ip: '192.168.10.10' },
    ]);
  });

  it('skips comment lines and lines with fewer than two fields, keeps inline comments as hostnames', () => {
    const text = ['# comment line', '#10.0.0.1 commented', '10.0.0.9', '   ', '10.0.0.2 a # b c', '\t#x y'].join('\n');
    expect(parseHostsFile(text)).toEqual([{ id: '10.0.0.2', hostnames: ['a', '#', 'b', 'c'], ip: '10.0.0.2' }]);
  });

  it('splits lines on \\n, \\r\\n and a lone \\r, fields on Python whitespace', () => {
    const text = '10.0.0.1 a\r\n10.0.0.2\u00a0b\r10.0.0.3\x1cc\n';
    expect(parseHostsFile(text).map((m) => [m.id, m.hostnames])).toEqual([
      ['10.0.0.1', ['a']],
      ['10.0.0.2', ['b']],
      ['10.0.0.3', ['c']],
    ]);
  });

  it('normalises IPv6 as inet_ntop does but keeps the literal id', () => {
    const [m] = parseHostsFile('2001:DB8:0:0:0:0:0:1 six');
    expect(m).toEqual({ id: '2001:DB8:0:0:0:0:0:1', hostnames: ['six'], ip: '2001:db8::1' });
  });

  it('fails the whole query with a 500 KeylimeError on an invalid IP in column 1', () => {
    for (const bad of ['localhost 127.0.0.1', '192.168.0.256 x', '192.168.00.1 x', '1.2.3 x', 'fe80::1%eth0 x']) {
      expect(() => parseHostsFile(`127.0.0.1 ok\n${bad}\n`), bad).toThrow(expect.objectContaining({ name: 'KeylimeError', status: 500 }));
    }
  });

  it('never throws anything but KeylimeError, and never hangs, on random text', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const alphabet = ['1', '2', '.', ':', ' ', '\t', '\n', '\r', '#', 'a', 'f', '0', '\u00a0', '\u0000', '\ud800', '9', '5'];
    for (let i = 0; i < 3000; i++) {
      const len = Math.floor(rnd() * 60);
      let text = '';
      for (let j = 0; j < len; j++) text += alphabet[Math.floor(rnd() * alphabet.length)];
      try {
        const machines = parseHostsFile(text);
        for (const m of machines) expect(m.hostnames.length).toBeGreaterThan(0);
      } catch (e) {
        expect((e as Error).name).toBe('KeylimeError');
      }
    }
  });
});

describe('IP parsing (netaddr / inet_pton rules)', () => {
  it('accepts strict forms and normalises IPv6', () => {
    const cases: Array<[string, string]> = [
      ['0.0.0.0', '0.0.0.0'],
      ['255.255.255.255', '255.255.255.255'],
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['1:0:2:0:3:0:4:0', '1:0:2:0:3:0:4:0'],
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
      ['::FFFF:c000:0201', '::ffff:192.0.2.1'],
      ['::192.0.2.1', '::192.0.2.1'],
      ['::0.0.0.2', '::2'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['fe80::1:2', 'fe80::1:2'],
    ];
    for (const [input, text] of cases) expect(parseIp(input)?.text, input).toBe(text);
    expect(parseIp('10.1.2.3')?.version).toBe(4);
    expect(parseIp('::1')?.version).toBe(6);
  });

  it('rejects what inet_pton rejects', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.256', ' 1.2.3.4', '1:2:3:4:5:6:7:8:9', ':::', '1::2::3', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8::', '12345::', 'g::', '1.2.3.4::', '::1.2.3', '::1.2.3.04', '127.1', '3232235521']) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });
});

describe('keylime resolver machines', () => {
  it('maps an agent: UUID id, normalised ip, hostnames from registration and metadata', () => {
    expect(
      machineFromAgent({
        agentId: 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000',
        ip: '127.0.0.1',
        hostname: 'node1',
        metadata: JSON.stringify({ hostname: 'node1.example', hostnames: ['n1', 'node1', 5] }),
      }),
    ).toEqual({ id: 'd432fbb3-d2f1-4a97-9ef7-75bd81c00000', ip: '127.0.0.1', hostnames: ['node1', 'node1.example', 'n1'] });
  });

  it('tolerates missing or junk metadata and ip', () => {
    expect(machineFromAgent({ agentId: 'a', ip: 'not-an-ip', metadata: '{bad json' })).toEqual({ id: 'a', ip: null, hostnames: [] });
    expect(hostnamesFromMetadata(null)).toEqual([]);
    expect(hostnamesFromMetadata([1])).toEqual([]);
    expect(hostnamesFromMetadata({ hostname: '' })).toEqual([]);
  });
});
