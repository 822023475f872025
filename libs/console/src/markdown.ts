/**
 * Runbook Markdown to HTML for the console, inert by construction: raw HTML in the Markdown (which can
 * come from alert values such as a rule title or an account id interpolated into a runbook) is shown as
 * text, and links keep only http(s), mailto and relative targets. Uses marked (GFM tables).
 */
import { Marked, Renderer, type Tokens } from 'marked';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const renderer = new Renderer();
renderer.html = ({ text }: Tokens.HTML | Tokens.Tag) => escapeHtml(text);
const baseLink = renderer.link.bind(renderer);
renderer.link = (token: Tokens.Link) => (/^(https?:|mailto:|\/|#)/i.test(token.href) ? baseLink(token) : escapeHtml(token.text));
renderer.image = (token: Tokens.Image) => escapeHtml(token.text);
// The page has its own h1 and h2: runbook headings start at h3.
renderer.heading = function (this: Renderer, { tokens, depth }: Tokens.Heading) {
  const level = Math.min(6, depth + 2);
  return `<h${level}>${this.parser.parseInline(tokens)}</h${level}>\n`;
};

const marked = new Marked({ gfm: true, breaks: false, async: false, renderer });

export function renderMarkdown(markdown: string): string {
  return marked.parse(markdown) as string;
}
