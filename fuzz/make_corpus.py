#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ (run from anywhere).

Seeds are small valid inputs plus a few near-valid ones (one field wrong), so libFuzzer starts next to
the interesting code paths. Standard library only; no PyTorch needed (torch.save's byte stream is made
with Python's pickle and stand-in torch globals, as tests/fixtures/torch-bin/make_bins.py does).
"""
import collections, io, json, os, pickle, shutil, struct, sys, types, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fixture(rel):
    with open(os.path.join(ROOT, "tests", "fixtures", rel), "rb") as f:
        return f.read()


# --- safetensors ------------------------------------------------------------------------------------
def safetensors(entries, metadata=None, header_extra=None, length_delta=0):
    """entries: list of (name, dtype, shape, raw bytes), written back to back."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if header_extra:
        header.update(header_extra)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h) + length_delta) + h + data


def f32(*xs):
    return struct.pack("<%df" % len(xs), *xs)


def seeds_safetensors():
    t = "safetensors"
    mixed = [("a", "F32", [2, 3], f32(1, 2, 3, 4, 5, 6)),
             ("b", "BF16", [2], b"\x80\x3f\x00\x40"),
             ("c", "I64", [1], struct.pack("<q", -7)),
             ("d", "BOOL", [3], b"\x01\x00\x01"),
             ("e", "F32", [0, 4], b""),
             ("f", "U8", [], b"\x05"),
             ("g", "F16", [1, 1], b"\x00\x3c")]
    write(t, "mixed.safetensors", safetensors(mixed, {"format": "pt"}))
    write(t, "one.safetensors", safetensors([("w", "F32", [2], f32(0.5, -1))]))
    write(t, "empty_header.safetensors", safetensors([]))
    write(t, "length_past_end.safetensors", safetensors([("w", "F32", [1], f32(1))], length_delta=64))
    write(t, "overlap.safetensors", safetensors([("w", "F32", [1], f32(1))],
                                                header_extra={"v": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}))
    write(t, "wrong_size.safetensors", safetensors([("w", "F32", [3], f32(1, 2))]))
    write(t, "bad_dtype.safetensors", safetensors([("w", "F8", [1], b"\x01")]))
    write(t, "bool_byte.safetensors", safetensors([("m", "BOOL", [2], b"\x01\x02")]))
    write(t, "big_shape.safetensors", safetensors([("z", "F32", [0, 4611686018427387904, 4], b"")]))
    write(t, "lora_adapter.safetensors", fixture("peft-lora-t5-tiny/adapter_model.safetensors"))


# --- pickle / torch .bin ----------------------------------------------------------------------------
torch_mod = types.ModuleType("torch")
utils_mod = types.ModuleType("torch._utils")
for cls_name in ("FloatStorage", "LongStorage", "BoolStorage", "HalfStorage"):
    cls = type(cls_name, (), {})
    cls.__module__ = "torch"
    setattr(torch_mod, cls_name, cls)


def _rebuild_tensor_v2(*args):
    raise RuntimeError("stand-in, never called")


_rebuild_tensor_v2.__module__ = "torch._utils"
utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
sys.modules["torch"] = torch_mod
sys.modules["torch._utils"] = utils_mod


class Storage:
    def __init__(self, key, cls, item, raw):
        self.key, self.cls, self.item, self.raw = key, cls, item, raw


class Tensor:
    def __init__(self, storage, offset, shape, stride=None):
        self.storage, self.offset, self.shape = storage, offset, shape
        if stride is None:
            stride, acc = [], 1
            for d in reversed(shape):
                stride.insert(0, acc)
                acc *= d
        self.stride = stride

    def __reduce_ex__(self, proto):
        return (_rebuild_tensor_v2, (self.storage, self.offset, tuple(self.shape), tuple(self.stride), False,
                                     collections.OrderedDict()))


def tiny_state_dict():
    packed = Storage("0", torch_mod.FloatStorage, 4, f32(1, 2, 3, 4, 5, 6))
    ids = Storage("1", torch_mod.LongStorage, 8, struct.pack("<3q", 3, 1, 4))
    mask = Storage("2", torch_mod.BoolStorage, 1, b"\x01\x00")
    sd = collections.OrderedDict()
    sd["encoder.weight"] = Tensor(packed, 0, [2, 2])
    sd["encoder.bias"] = Tensor(packed, 4, [2])            # a view at an offset into the same storage
    sd["decoder.weight_t"] = Tensor(packed, 0, [2, 2], [1, 2])  # transposed view
    sd["ids"] = Tensor(ids, 0, [3])
    sd["mask"] = Tensor(mask, 0, [2])
    sd._metadata = collections.OrderedDict([("", {"version": 1})])
    return sd, [packed, ids, mask]


def pickler(buf, protocol, legacy):
    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                pid = ("storage", obj.cls, obj.key, "cpu", len(obj.raw) // obj.item)
                return pid + (None,) if legacy else pid
            return None
    return P(buf, protocol=protocol)


def pickled(obj, protocol=2, legacy=False):
    buf = io.BytesIO()
    pickler(buf, protocol, legacy).dump(obj)
    return buf.getvalue()


def torch_zip(compression=zipfile.ZIP_STORED):
    sd, storages = tiny_state_dict()
    buf = io.BytesIO()
    def entry(name):  # a fixed timestamp keeps the seed files identical from run to run
        return zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(buf, "w", compression) as z:
        z.writestr(entry("archive/data.pkl"), pickled(sd), compress_type=compression)
        for s in storages:
            z.writestr(entry("archive/data/" + s.key), s.raw, compress_type=compression)
        z.writestr(entry("archive/version"), "3\n", compress_type=compression)
    return buf.getvalue()


def torch_legacy():
    sd, storages = tiny_state_dict()
    out = io.BytesIO()
    pickle.dump(0x1950a86a20f9469cfc6c, out, protocol=2)
    pickle.dump(1001, out, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True,
                 "type_sizes": {"short": 2, "int": 4, "long": 4}}, out, protocol=2)
    pickler(out, 2, True).dump(sd)
    pickle.dump([s.key for s in storages], out, protocol=2)
    for s in storages:
        out.write(struct.pack("<q", len(s.raw) // s.item))
        out.write(s.raw)
    return out.getvalue()


def seeds_pickle():
    t = "pickle"
    sd, _ = tiny_state_dict()
    write(t, "state_dict_p2.pkl", pickled(sd))
    write(t, "state_dict_p4.pkl", pickled(sd, protocol=4))   # FRAME, MEMOIZE, STACK_GLOBAL, SHORT_BINUNICODE
    write(t, "wrapped.pkl", pickled({"state_dict": sd, "epoch": 3, "lr": 0.5, "name": "x", "big": 2 ** 40}))
    write(t, "torch_zip.bin", torch_zip())
    write(t, "torch_zip_deflated.bin", torch_zip(zipfile.ZIP_DEFLATED))
    write(t, "torch_legacy.bin", torch_legacy())
    write(t, "truncated.pkl", pickled(sd)[:-40])
    write(t, "forbidden_global.pkl", b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.")
    write(t, "self_append.pkl", b"\x80\x02]q\x00h\x00a.")


# --- JSON configs -----------------------------------------------------------------------------------
def seeds_t5_config():
    t = "t5_config"
    write(t, "t5_tiny.json", fixture("t5-tiny/config.json"))
    write(t, "t5_tiny_gated.json", fixture("t5-tiny-gated/config.json"))
    base = {"model_type": "mt5", "vocab_size": 250112, "d_model": 512, "d_kv": 64, "d_ff": 1024,
            "num_layers": 8, "num_heads": 6, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False}
    write(t, "mt5_small.json", json.dumps(base))
    write(t, "bad_type.json", json.dumps(dict(base, model_type="bart")))
    write(t, "float_width.json", json.dumps(dict(base, d_model=512.5)))
    write(t, "huge_width.json", json.dumps(dict(base, d_ff=1e300)))
    write(t, "silu.json", json.dumps(dict(base, feed_forward_proj="silu", dropout_rate=0.0, num_decoder_layers=2)))


def seeds_structure():
    t = "structure"
    enc = "encoder.block.0.layer."
    mods = [{"module": enc + "0.SelfAttention.q", "method": "lora", "rank": 4},
            {"module": enc + "0.SelfAttention.v", "method": "lora", "rank": 2},
            {"module": enc + "0.SelfAttention", "method": "adapter_lr", "rank": 1},
            {"module": enc + "0.SelfAttention", "method": "prefix", "rank": 2},
            {"module": enc + "1.DenseReluDense", "method": "parallel_adapter", "rank": 3},
            {"module": enc + "0.layer_norm", "method": "lnfit"},
            {"module": enc + "1.DenseReluDense.wo", "method": "bitfit"},
            {"module": "decoder.block.0.layer.1.EncDecAttention.k", "method": "lora", "rank": 1}]
    s = {"format": "bipeft-structure", "version": 1, "full_finetune": False,
         "options": {"adapter_lr_reduction": 4, "prefix_mid": 2, "prefix_length_max": 4}, "modules": mods}
    write(t, "structure.json", json.dumps(s, indent=1))
    write(t, "full.json", json.dumps({"format": "bipeft-structure", "full_finetune": True, "modules": []}))
    write(t, "unknown_module.json", json.dumps(dict(s, modules=[{"module": "x.q", "method": "lora", "rank": 8}])))
    write(t, "bad_rank.json", json.dumps(dict(s, modules=[dict(mods[0], rank=0)])))
    write(t, "method_specs.txt", "lora:r=4:targets=q,v\nbitfit\nadapter:r=2\nprefix:r=2:targets=all\nlnfit,full")


def seeds_adapter_config():
    t = "adapter_config"
    write(t, "lora_tiny.json", fixture("peft-lora-t5-tiny/adapter_config.json"))
    base = json.loads(fixture("peft-lora-t5-tiny/adapter_config.json"))
    write(t, "patterns.json", json.dumps(dict(base, r=8, lora_alpha=16, use_rslora=True,
                                              rank_pattern={"SelfAttention.q": 2, "decoder\\..*\\.v": 4},
                                              alpha_pattern={"q": 8.5})))
    write(t, "regex_target.json", json.dumps(dict(base, target_modules=".*(SelfAttention|EncDecAttention)\\.(q|v)$")))
    write(t, "all_linear.json", json.dumps(dict(base, target_modules="all-linear")))
    write(t, "ln_tuning.json", json.dumps({"peft_type": "LN_TUNING", "target_modules": ["layer_norm"]}))
    write(t, "bad_regex.json", json.dumps(dict(base, target_modules="(q|v")))
    write(t, "dora.json", json.dumps(dict(base, use_dora=True, r=4.0)))


# --- dataset readers --------------------------------------------------------------------------------
RAW_CASES = 5
TASKS = ["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli", "boolq", "cb", "copa", "multirc",
         "record", "superglue-rte", "wic", "wsc", "custom-jsonl", "custom-csv", "custom-tsv"]


def head(rel, n):
    text = fixture(rel).decode("utf-8")
    return "\n".join(text.split("\n")[:n]) + "\n"


def table_seed(case, flags, *parts):
    return bytes([case, flags]) + "\x1e".join(parts).encode("utf-8")


def seeds_table():
    t = "table"
    write(t, "raw_tsv", table_seed(0, 0, "a\tb\n1\t2\n\n3\t4\r\n"))
    write(t, "raw_csv", table_seed(1, 0, '\ufeffq,p\n"x, y","he said ""hi"""\n"multi\nline",z\n'))
    write(t, "raw_tsv_noheader", table_seed(2, 0, "gj04\t1\t\tA sentence.\ngj04\t0\t*\tSentence a.\n"))
    write(t, "raw_csv_noheader", table_seed(3, 0, "a,b\n,\n"))
    write(t, "raw_jsonl", table_seed(4, 0, '{"a": 1}\n\n{"b": [1, 2], "c": {"d": null}}\n'))
    case = {name: RAW_CASES + i for i, name in enumerate(TASKS)}
    glue = "data/glue/"
    write(t, "cola", table_seed(case["cola"], 0, head(glue + "CoLA/in_domain_train.tsv", 3),
                                head(glue + "CoLA/in_domain_dev.tsv", 3)))
    write(t, "sst2", table_seed(case["sst2"], 1, head(glue + "SST-2/train.tsv", 4), head(glue + "SST-2/dev.tsv", 3)))
    write(t, "mrpc", table_seed(case["mrpc"], 0, head(glue + "MRPC/train.tsv", 3), head(glue + "MRPC/dev.tsv", 4)))
    write(t, "stsb", table_seed(case["stsb"], 1, head(glue + "STS-B/train.tsv", 3), head(glue + "STS-B/dev.tsv", 4)))
    write(t, "rte", table_seed(case["rte"], 0, head(glue + "RTE/train.tsv", 3), head(glue + "RTE/dev.tsv", 3)))
    write(t, "qqp", table_seed(case["qqp"], 0,
                               "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t1\t2\tWhy?\tHow?\t0\n2\t3\t4\tA?\tA?\t1\n",
                               "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n3\t5\t6\tWho?\tWhom?\t1\n"))
    write(t, "mnli", table_seed(case["mnli"], 1,
                                "index\tsentence1\tsentence2\tgold_label\n0\tA man.\tA person.\tentailment\n1\tA.\tB.\tneutral\n",
                                "index\tsentence1\tsentence2\tgold_label\n0\tA cat.\tA dog.\tcontradiction\n",
                                "index\tsentence1\tsentence2\tgold_label\n0\tX.\tY.\tneutral\n"))
    write(t, "qnli", table_seed(case["qnli"], 0, "index\tquestion\tsentence\tlabel\n0\tWhat?\tThis.\tentailment\n"
                                "1\tWho?\tThat.\tnot_entailment\n",
                                "index\tquestion\tsentence\tlabel\n0\tQ?\tS.\tnot_entailment\n1\tQ?\tT.\tentailment\n"))
    write(t, "wnli", table_seed(case["wnli"], 0, "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\t1\n",
                                "index\tsentence1\tsentence2\tlabel\n0\tC.\tD.\t0\n1\tE.\tF.\t1\n"))
    sg = {"boolq": "BoolQ", "cb": "CB", "copa": "COPA", "multirc": "MultiRC", "record": "ReCoRD", "wic": "WiC",
          "wsc": "WSC"}
    for task, folder in sg.items():
        write(t, task, table_seed(case[task], 0, head("superglue-samples/%s/train.jsonl" % folder, 3),
                                  head("superglue-samples/%s/val.jsonl" % folder, 3)))
    write(t, "superglue-rte", table_seed(case["superglue-rte"], 1,
                                         '{"premise": "P.", "hypothesis": "H.", "label": "entailment"}\n',
                                         '{"premise": "Q.", "hypothesis": "I.", "label": "not_entailment"}\n'
                                         '{"premise": "R.", "hypothesis": "J.", "label": "entailment"}\n'))
    write(t, "custom-jsonl", table_seed(case["custom-jsonl"], 0,
                                        '{"question": "q1", "passage": "p1", "label": "yes"}\n'
                                        '{"question": "q2", "passage": 3, "label": "no"}\n',
                                        '{"question": "q3", "passage": true, "label": "yes"}\n',
                                        '{"question": "q4", "passage": "p4", "label": "no"}\n'))
    write(t, "custom-csv", table_seed(case["custom-csv"], 2, 'question,passage,label\nq1,"p, 1",1.5\nq2,p2,-2\n',
                                      "question,passage,label\nq3,p3,0.25\nq4,p4,1e3\n"))
    write(t, "custom-tsv", table_seed(case["custom-tsv"], 1, "question\tpassage\tlabel\nq1\tp1\t10\nq2\tp2\t2\n",
                                      "question\tpassage\tlabel\nq3\tp3\t2\n", "question\tpassage\tlabel\nq4\tp4\t10\n"))
    wsc = ('{"text": "Mark told Pete he lied.", "target": {"span1_index": 0, "span1_text": "Mark", '
           '"span2_index": 9223372036854775807, "span2_text": "he"}, "label": true}\n')
    write(t, "wsc_index_at_int64_max", table_seed(case["wsc"], 0, wsc, wsc + wsc))
    record = ('{"passage": {"text": "Messi joined Miami.", "entities": [{"start": 0, "end": 9223372036854775807}]}, '
              '"qas": [{"query": "@placeholder joined", "answers": [{"text": "Messi"}]}]}\n')
    write(t, "record_end_at_int64_max", table_seed(case["record"], 0, record, record))
    write(t, "stsb_bad_score", table_seed(case["stsb"], 0,
                                          "index\tsentence1\tsentence2\tscore\n0\ta\tb\t1e39\n",
                                          "index\tsentence1\tsentence2\tscore\n0\ta\tb\t1\n1\tc\td\t2\n"))


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    seeds_safetensors()
    seeds_pickle()
    seeds_t5_config()
    seeds_structure()
    seeds_adapter_config()
    seeds_table()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print("wrote %s (%d bytes)" % (OUT, total))


if __name__ == "__main__":
    main()
