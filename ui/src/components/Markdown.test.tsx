import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { Markdown } from "./Markdown";
import { setupBackend } from "../test/utils";

describe("Markdown (untrusted model output)", () => {
  it("never creates <script> elements and shows raw HTML as text", () => {
    const { container } = render(
      <Markdown text={"Hello <script>window.pwned = 1</script> there\n\n<script>\nalert(1)\n</script>"} />,
    );
    expect(container.querySelector("script")).toBeNull();
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
    // The model's literal text stays readable instead of silently vanishing.
    expect(container).toHaveTextContent("<script>window.pwned = 1</script>");
  });

  it("strips event handlers such as onerror", () => {
    const { container } = render(
      <Markdown
        text={'<img src="x" onerror="alert(1)">\n\n<div onclick="alert(2)" onmouseover="alert(3)">hi</div>\n\n![alt text](https://example.com/a.png "t")'}
      />,
    );
    const all = [...container.querySelectorAll("*")];
    for (const el of all) {
      for (const attr of el.getAttributeNames()) expect(attr.startsWith("on")).toBe(false);
    }
    // No raw <img> and no remote image load: markdown images become links.
    expect(container.querySelector("img")).toBeNull();
    expect(screen.getByRole("link", { name: "Image: alt text" })).toHaveAttribute("href", "https://example.com/a.png");
  });

  it("drops javascript:, data:, file: and plain http: URLs", () => {
    const { container } = render(
      <Markdown
        text={
          "[click me](javascript:alert(1)) and [data](data:text/html,<b>x</b>) and [local](http://127.0.0.1:8080/v1/models) " +
          "and [file](file:///etc/passwd) and [ok](https://ok.example)"
        }
      />,
    );
    const hrefs = [...container.querySelectorAll("a")].map((a) => a.getAttribute("href"));
    expect(hrefs).toEqual(["https://ok.example"]);
    expect(container).toHaveTextContent("click me");
  });

  it("renders GFM: tables, lists, inline code", () => {
    render(<Markdown text={"| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n\nuse `cargo test`"} />);
    expect(screen.getByRole("table")).toBeInTheDocument();
    expect(screen.getAllByRole("listitem")).toHaveLength(2);
    expect(screen.getByText("cargo test").tagName).toBe("CODE");
  });

  it("highlights code blocks and copies them with the copy button", async () => {
    const user = userEvent.setup();
    const writeText = vi.fn().mockResolvedValue(undefined);
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    const code = 'fn main() {\n    println!("hi");\n}';
    const { container } = render(<Markdown text={"```rust\n" + code + "\n```"} />);

    expect(container.querySelector("pre code.hljs.language-rust")).not.toBeNull();
    expect(container.querySelector(".hljs-keyword")).toHaveTextContent("fn");
    expect(screen.getByText("rust", { selector: ".code-block-lang" })).toBeInTheDocument();

    await user.click(screen.getByTestId("copy-code-button"));
    expect(writeText).toHaveBeenCalledWith(code);
    await waitFor(() => expect(screen.getByTestId("copy-code-button")).toHaveAccessibleName("Copied"));
  });

  it("opens links in the system browser instead of navigating the app", async () => {
    const backend = setupBackend();
    const user = userEvent.setup();
    render(<Markdown text={"See [the docs](https://docs.example/page)."} />);
    await user.click(screen.getByRole("link", { name: "the docs" }));
    await waitFor(() => expect(backend.callsOf("open_external")).toHaveLength(1));
    expect(backend.callsOf("open_external")[0].args).toEqual({ url: "https://docs.example/page" });
    expect(window.location.href).not.toContain("docs.example");
  });

  it("copes with half-streamed markdown", () => {
    const { container } = render(<Markdown text={"Here:\n\n```python\ndef f(x):\n    return"} />);
    expect(container.querySelector("pre")).toHaveTextContent("def f(x): return");
  });

  it("renders inline and display math with KaTeX", () => {
    const { container } = render(<Markdown text={"Euler: $e^{i\\pi} + 1 = 0$.\n\n$$\n\\int_0^1 x^2\\,dx = \\frac{1}{3}\n$$"} />);
    const inline = container.querySelector("p .katex");
    expect(inline).not.toBeNull();
    // MathML for assistive technology, with the TeX source as its annotation.
    expect(inline!.querySelector("math annotation")).toHaveTextContent("e^{i\\pi} + 1 = 0");
    const display = container.querySelector(".katex-display");
    expect(display).not.toBeNull();
    expect(display!.querySelector(".mfrac")).not.toBeNull();
    // Display math is not shown as a code block.
    expect(container.querySelector("pre")).toBeNull();
    expect(container.querySelector(".code-block")).toBeNull();
  });

  it("renders ```math blocks as math and keeps other code blocks as code", () => {
    const { container } = render(<Markdown text={"```math\na^2+b^2=c^2\n```\n\n```\nplain $x$\n```"} />);
    expect(container.querySelector(".katex-display")).not.toBeNull();
    expect(container.querySelector(".code-block-lang")).toHaveTextContent("text");
    expect(container.querySelector("pre")).toHaveTextContent("plain $x$");
  });

  it("leaves dollar amounts as text", () => {
    const { container } = render(<Markdown text={"It costs $5 and $10 with tax, or $ 3 $ flat; but $x$ is math."} />);
    expect(container.querySelectorAll(".katex")).toHaveLength(1);
    expect(container).toHaveTextContent("It costs $5 and $10 with tax, or $ 3 $ flat");
  });

  it("keeps hostile math inert: no links, scripts, ids or styles from the model", () => {
    const hostile = [
      "$\\href{javascript:alert(1)}{x}$",
      "$\\url{javascript:alert(2)}$",
      "$\\htmlStyle{background:url(https://evil.example/x)}{y}$",
      "$\\htmlId{pwn}{z}$",
      "$\\htmlClass{skip-link}{w}$",
      "$\\htmlData{foo=bar}{v}$",
      "$\\includegraphics{https://evil.example/i.png}$",
      "$<script>window.pwned=1</script>$",
      "$$\n</span><img src=x onerror=alert(3)>\n$$",
      "$\\color{red;background:url(https://evil.example/c)}{q}$",
      "$\\text{<b onmouseover=alert(4)>t</b>}$",
    ].join("\n\n");
    const { container } = render(<Markdown text={hostile} />);
    expect(container.querySelectorAll(".katex, .katex-error").length).toBeGreaterThan(5);
    expect(container.querySelector("a, script, img, iframe, object, embed, [href], [src], [id]")).toBeNull();
    expect(container.querySelector("[class~='skip-link']")).toBeNull();
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
    for (const el of container.querySelectorAll("*")) {
      for (const attr of el.getAttributeNames()) expect(attr.startsWith("on")).toBe(false);
      expect(el.getAttribute("style") ?? "").not.toMatch(/url\(|expression|javascript/i);
      const data = el.getAttributeNames().filter((a) => a.startsWith("data-"));
      expect(data).toEqual([]);
    }
    // The text stays readable.
    expect(container).toHaveTextContent("<script>window.pwned=1</script>");
  });
});
