/**
 * Safe Markdown for model output. Model text is untrusted: raw HTML in it is never
 * turned into elements (`htmlAsText` shows it literally, as the model wrote it), the
 * resulting tree is filtered by rehype-sanitize (GitHub's allow-list: no scripts, no
 * event handlers, no style, only safe URL schemes), links open in the system browser
 * through `open_external`, and images are shown as links (no remote loads).
 */
import { memo, useRef, useState, type ComponentPropsWithoutRef, type ReactNode } from "react";
import ReactMarkdown, { type Components, defaultUrlTransform } from "react-markdown";
import remarkGfm from "remark-gfm";
import rehypeSanitize, { defaultSchema } from "rehype-sanitize";
import rehypeHighlight from "rehype-highlight";
import { api } from "../api";
import { copyText } from "../lib/clipboard";
import { CheckIcon, CopyIcon } from "./Icons";

const schema = {
  ...defaultSchema,
  // GitHub's schema prefixes ids/names with "user-content-"; keep that. Drop <img>'s
  // loading of remote resources by never rendering <img> (see `img` below).
  tagNames: (defaultSchema.tagNames ?? []).filter((t) => !["input"].includes(t)),
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
      remarkPlugins={[remarkGfm, htmlAsText]}
      rehypePlugins={[[rehypeSanitize, schema], [rehypeHighlight, { detect: false, plainText: ["text", "txt"] }]]}
      components={components}
      urlTransform={(url) => defaultUrlTransform(url)}
    >
      {text}
    </ReactMarkdown>
  );
}

export const Markdown = memo(MarkdownImpl);
