import { escapeRunbookValue } from './runbook-renderer';

describe('escapeRunbookValue (issue 22: Markdown injection into runbooks)', () => {
  it('keeps plain ids readable', () => {
    expect(escapeRunbookValue('dr-alice')).toBe('dr-alice');
    expect(escapeRunbookValue('svc_batch.01')).toBe('svc_batch.01');
  });

  it('turns line breaks, links, images, HTML and autolinks into inert text', () => {
    const out = escapeRunbookValue('x\n## Containment\r\n[a](https://e.example) ![i](http://t.example/p.gif) <img src=x> www.e.example javascript:alert(1)');
    expect(out).not.toMatch(/[\r\n]/);
    expect(out).not.toMatch(/(^|[^\\])\[a\]\(/);
    expect(out).not.toMatch(/(^|[^\\])!\[i\]/);
    expect(out).not.toMatch(/<img/);
    expect(out).not.toMatch(/https?:\/\//);
    expect(out).not.toMatch(/www\./);
    expect(out).not.toContain('javascript:');
    expect(out).toContain('hxxps://e.example');
  });
});
