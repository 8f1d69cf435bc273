import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { NumberInput } from "./NumberInput";

function Harness({ onChange, ...props }: { onChange: (n: number | null) => void; integer?: boolean; allowEmpty?: boolean }) {
  const [value, setValue] = useState<number | null>(0.7);
  return (
    <>
      <label htmlFor="n">Value</label>
      <NumberInput
        id="n"
        min={0}
        max={2}
        step={0.05}
        value={value}
        onChange={(n) => {
          setValue(n);
          onChange(n);
        }}
        {...props}
      />
      <output>{String(value)}</output>
    </>
  );
}

describe("NumberInput", () => {
  it("lets the user clear and type a decimal, reporting only valid numbers", async () => {
    const user = userEvent.setup();
    const onChange = vi.fn();
    render(<Harness onChange={onChange} />);
    const input = screen.getByLabelText("Value");
    await user.clear(input);
    await user.type(input, "1.25");
    expect(input).toHaveValue("1.25");
    expect(onChange.mock.calls.map((c) => c[0])).toEqual([1, 1, 1.2, 1.25]);
  });

  it("ignores out-of-range input and restores the value on blur", async () => {
    const user = userEvent.setup();
    const onChange = vi.fn();
    render(<Harness onChange={onChange} />);
    const input = screen.getByLabelText("Value");
    await user.clear(input);
    await user.type(input, "5");
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(onChange).not.toHaveBeenCalledWith(5);
    await user.tab();
    expect(input).toHaveValue("0.7");
  });

  it("steps with the arrow keys", async () => {
    const user = userEvent.setup();
    const onChange = vi.fn();
    render(<Harness onChange={onChange} />);
    await user.click(screen.getByLabelText("Value"));
    await user.keyboard("{ArrowUp}{ArrowUp}{ArrowDown}");
    expect(screen.getByLabelText("Value")).toHaveValue("0.75");
  });

  it("empty means null when allowed", async () => {
    const user = userEvent.setup();
    const onChange = vi.fn();
    render(<Harness onChange={onChange} allowEmpty />);
    await user.clear(screen.getByLabelText("Value"));
    expect(onChange).toHaveBeenLastCalledWith(null);
  });
});
