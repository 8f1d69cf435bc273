/**
 * Safe Markdown for model output. Model text is untrusted: raw HTML in it is never
 * turned into elements (`htmlAsText` shows it literally, as the model wrote it), the
 * resulting tree is filtered by rehype-sanitize (GitHub's allow-list: no scripts, no
 * event handlers, no style, only safe URL schemes), links open in the system browser
 * through `open_external`, and images are shown as links (no remote loads).
 *
 * Math: `$…$` (inline) and `$$…$$` (display) are parsed by remark-math into `<code>`
 * elements holding the TeX source as text. The order of the rehype plugins is the
 * safety argument: rehype-sanitize runs first, on a tree that only Markdown made (so
 * no `style` anywhere, and the math is still plain text); rehype-katex runs after it
 * and replaces those `<code>` elements with KaTeX's own markup. KaTeX escapes all text
 * and, with `trust: false`, refuses the commands that would make links, ids, classes,
 * styles or images (`\href`, `\url`, `\htmlStyle`, `\includegraphics`, …), so the
 * only attributes it emits are its own classes and its own layout styles. Its CSS and
 * fonts are bundled (katex/dist, imported below): nothing is loaded from the network.
 */
import { memo, useRef, useState, type ComponentPropsWithoutRef, type ReactNode } from "react";
import ReactMarkdown, { type Components, defaultUrlTransform } from "react-markdown";
import remarkGfm from "remark-gfm";
import rehypeSanitize, { defaultSchema } from "rehype-sanitize";
import rehypeHighlight from "rehype-highlight";
import remarkMath from "remark-math";
import rehypeKatex from "rehype-katex";
import type { KatexOptions } from "katex";
import "katex/dist/katex.min.css";
import { api } from "../api";
import { copyText } from "../lib/clipboard";
import { CheckIcon, CopyIcon } from "./Icons";

const schema = {
  ...defaultSchema,
  // GitHub's schema prefixes ids/names with "user-content-"; keep that. Drop <img>'s
  // loading of remote resources by never rendering <img> (see `img` below).
  tagNames: (defaultSchema.tagNames ?? []).filter((t) => !["input"].includes(t)),
  attributes: {
    ...defaultSchema.attributes,
    // remark-math's markers, read by rehype-katex (which runs after sanitizing).
    code: [["className", /^language-./, "math-inline", "math-display"]],
  },
};

/** KaTeX without anything that could reach outside the formula. */
export const KATEX_OPTIONS: KatexOptions = {
  trust: false,
  strict: "ignore",
  throwOnError: false,
  maxSize: 20,
  maxExpand: 500,
  output: "htmlAndMathml",
};

interface MdNode {
  type: string;
  value?: string;
  children?: MdNode[];
}

/** remark plugin: raw HTML (block or inline) becomes plain text, e.g. "<div>" stays visible. */
function htmlAsText() {
  const walk = (node: MdNode) => {
    if (node.type === "html") node.type = "text";
    node.children?.forEach(walk);
  };
  return (tree: MdNode) => walk(tree);
}

interface MathNode extends MdNode {
  position?: { start: { offset?: number }; end: { offset?: number } };
}

/**
 * remark plugin, after remark-math: single-dollar "math" that is really prose about money
 * ("$5 and $10") goes back to text. Like Pandoc, `$…$` is math only when the opening `$`
 * is not followed by a space, the closing `$` not preceded by one, and no digit follows
 * the closing `$`. `$$…$$` is always math.
 */
function dollarsAsText() {
  return (tree: MdNode, file: { value?: unknown }) => {
    const source = typeof file.value === "string" ? file.value : String(file.value ?? "");
    const walk = (node: MdNode) => {
      node.children?.forEach((child, index) => {
        const math = child as MathNode;
        const start = math.position?.start.offset;
        const end = math.position?.end.offset;
        if (child.type === "inlineMath" && start !== undefined && end !== undefined) {
          const raw = source.slice(start, end);
          const single = raw.startsWith("$") && !raw.startsWith("$$");
          const inner = raw.slice(1, -1);
          if (single && (/^\s|\s$/.test(inner) || /^\d/.test(source.slice(end)))) {
            node.children![index] = { type: "text", value: raw };
          }
        } else {
          walk(child);
        }
      });
    };
    walk(tree);
  };
}

/** Links the app opens (in the system browser or mail client): encrypted web and mail only. */
const SAFE_LINK = /^(https:|mailto:)/i;

export function CopyButton({
  getText,
  label = "Copy code",
  testId = "copy-code-button",
}: {
  getText: () => string;
  label?: string;
  testId?: string;
}) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="copy-button"
      aria-label={copied ? "Copied" : label}
      title={copied ? "Copied" : label}
      data-testid={testId}
      onClick={async () => {
        if (await copyText(getText())) {
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        }
      }}
    >
      {copied ? <CheckIcon /> : <CopyIcon />}
      <span>{copied ? "Copied" : "Copy"}</span>
    </button>
  );
}

function languageOf(children: ReactNode): string | null {
  const child = Array.isArray(children) ? children[0] : children;
  const className: unknown = (child as { props?: { className?: unknown } } | null)?.props?.className;
  if (typeof className !== "string") return null;
  const match = /(?:^|\s)language-([\w+#.-]+)/.exec(className);
  return match ? match[1] : null;
}

function CodeBlock({ children, node: _node, ...rest }: ComponentPropsWithoutRef<"pre"> & { node?: unknown }) {
  const ref = useRef<HTMLPreElement>(null);
  const language = languageOf(children);
  return (
    <div className="code-block">
      <div className="code-block-header">
        <span className="code-block-lang">{language ?? "text"}</span>
        <CopyButton getText={() => (ref.current?.textContent ?? "").replace(/\n$/, "")} />
      </div>
      <pre ref={ref} {...rest}>
        {children}
      </pre>
    </div>
  );
}

function Link({ href, children, node: _node, ...rest }: ComponentPropsWithoutRef<"a"> & { node?: unknown }) {
  const safe = typeof href === "string" && SAFE_LINK.test(href);
  if (!safe) return <span className="md-link-disabled">{children}</span>;
  return (
    <a
      {...rest}
      href={href}
      rel="noopener noreferrer"
      target="_blank"
      title={href}
      onClick={(event) => {
        event.preventDefault();
        void api.openExternal(href).catch(() => undefined);
      }}
    >
      {children}
    </a>
  );
}

function Image({ src, alt }: ComponentPropsWithoutRef<"img"> & { node?: unknown }) {
  const text = `Image: ${alt || src || "untitled"}`;
  if (typeof src === "string" && SAFE_LINK.test(src)) {
    return <Link href={src}>{text}</Link>;
  }
  return <span className="md-image">{text}</span>;
}

const components: Components = {
  pre: CodeBlock,
  a: Link,
  img: Image,
  table: ({ node: _node, ...props }) => (
    <div className="table-scroll">
      <table {...props} />
    </div>
  ),
};

function MarkdownImpl({ text }: { text: string }) {
  return (
    <ReactMarkdown
      remarkPlugins={[remarkGfm, remarkMath, dollarsAsText, htmlAsText]}
      rehypePlugins={[
        [rehypeSanitize, schema],
        [rehypeKatex, KATEX_OPTIONS],
        [rehypeHighlight, { detect: false, plainText: ["text", "txt"] }],
      ]}
      components={components}
      urlTransform={(url) => defaultUrlTransform(url)}
    >
      {text}
    </ReactMarkdown>
  );
}

export const Markdown = memo(MarkdownImpl);
