"""Reference dequantization with the Python `gguf` package (llama.cpp's own).

  gguf_dequant.py blocks TYPE IN OUT     raw blocks of TYPE in IN -> f32 values in OUT
  gguf_dequant.py tensor GGUF NAME OUT   tensor NAME of a GGUF file -> f32 values in OUT
Exit code 3 means the package cannot dequantize that type.
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, quants


def dequantize(raw: np.ndarray, qtype: GGMLQuantizationType) -> np.ndarray:
    try:
        return quants.dequantize(raw, qtype).astype(np.float32).reshape(-1)
    except NotImplementedError:
        sys.exit(3)


def main() -> None:
    mode = sys.argv[1]
    if mode == "blocks":
        qtype = GGMLQuantizationType[sys.argv[2]]
        if qtype == GGMLQuantizationType.Q8_1:
            # gguf-py has no Q8_1 dequantizer (it is an activation format) and lists the
            # block as 40 bytes where ggml's struct is 36.
            sys.exit(3)
        raw = np.fromfile(sys.argv[3], dtype=np.uint8)
        if qtype in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
            out = raw.view(np.float32 if qtype == GGMLQuantizationType.F32 else np.float16)
            out = out.astype(np.float32)
        else:
            block_bytes = quants.GGML_QUANT_SIZES[qtype][1]
            out = dequantize(raw.reshape(-1, block_bytes), qtype)
        out.tofile(sys.argv[4])
    elif mode == "tensor":
        reader = GGUFReader(sys.argv[2])
        tensor = next(t for t in reader.tensors if t.name == sys.argv[3])
        dequantize(np.asarray(tensor.data), tensor.tensor_type).tofile(sys.argv[4])
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
