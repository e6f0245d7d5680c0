//! Classification: is a global that a pickle imports a tensor-rebuild helper, dangerous, or neither?
//!
//! Two hand-kept tables decide: an allowlist mirroring PyTorch's `weights_only` unpickler (plus the numpy
//! and builtins rebuild helpers ordinary checkpoints need) and a denylist of modules and functions that
//! run code or touch the system. Anything on neither list is `unknown`: it may be harmless, but loading
//! the file imports it and may call it.
//!
//! Trade-offs:
//! - Only the allowlist makes a global silent; the denylist cannot be complete and only decides which
//!   non-allowed globals are errors rather than warnings, with a reason a reader understands.
//! - Unsafe modules match on whole dotted components (`os.path` is under `os`, `osmosis` is not), and a
//!   dotted name is checked as every attribute chain CPython could resolve it to, so `torch.serialization`
//!   + `os.system` is caught although neither half is denied on its own.
//! - A name computed at load time (`?`) is unsafe: it can hide any import, and ordinary picklers never
//!   produce it.

use super::Safety;

/// The module name reported for a `STACK_GLOBAL` operand that is not a literal string.
pub const DYNAMIC: &str = "?";
/// The module name reported for EXT1/EXT2/EXT4 (copyreg extension registry) imports.
pub const EXTENSION_MODULE: &str = "copyreg";

/// The verdict on one global, with a short reason usable after "which" in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub safety: Safety,
    pub reason: &'static str,
}

impl Classification {
    const fn new(safety: Safety, reason: &'static str) -> Classification {
        Classification { safety, reason }
    }
}

/// Modules (matched on whole dotted components, so `os.path` is under `os` and `osmosis` is not) whose
/// every attribute is treated as unsafe.
const UNSAFE_MODULES: &[(&str, &str)] = &[
    ("os", "can run shell commands and change files"),
    ("posix", "can run shell commands and change files"),
    ("nt", "can run shell commands and change files"),
    ("subprocess", "runs shell commands"),
    ("_posixsubprocess", "spawns processes"),
    ("commands", "runs shell commands"),
    ("pty", "spawns processes"),
    ("sys", "alters the Python interpreter"),
    ("shutil", "copies, moves and deletes files"),
    ("socket", "opens network connections"),
    ("_socket", "opens network connections"),
    ("runpy", "runs Python modules"),
    ("webbrowser", "opens URLs"),
    ("importlib", "imports arbitrary modules"),
    ("zipimport", "imports arbitrary modules"),
    (
        "pickle",
        "loads nested pickles, which run code of their own",
    ),
    (
        "_pickle",
        "loads nested pickles, which run code of their own",
    ),
    (
        "cPickle",
        "loads nested pickles, which run code of their own",
    ),
    ("marshal", "loads compiled code objects"),
    ("dill", "loads nested pickles and code objects"),
    ("ctypes", "calls native code"),
    ("_ctypes", "calls native code"),
    ("code", "compiles and runs Python code"),
    ("codeop", "compiles Python code"),
    ("multiprocessing", "spawns processes"),
    ("asyncio", "spawns processes and opens network connections"),
    ("requests", "makes network requests"),
    ("urllib", "makes network requests"),
    ("urllib2", "makes network requests"),
    ("http", "makes network requests"),
    ("httplib", "makes network requests"),
    ("ftplib", "makes network requests"),
    ("telnetlib", "makes network requests"),
    ("smtplib", "sends mail over the network"),
    ("pdb", "opens a debugger that runs code"),
    ("bdb", "opens a debugger that runs code"),
    ("timeit", "evaluates Python code"),
    ("pip", "installs packages"),
    ("venv", "creates environments and runs installers"),
    ("platform", "runs system commands"),
    ("signal", "changes signal handling"),
    ("threading", "starts threads"),
    ("_thread", "starts threads"),
    ("tempfile", "creates files"),
    ("glob", "lists files"),
    ("io", "opens files"),
    ("_io", "opens files"),
    ("pathlib", "reads and writes files"),
    ("torch.hub", "downloads and runs code from the internet"),
];

const BUILTIN_MODULES: &[&str] = &["builtins", "__builtin__", "__builtins__"];

/// Unsafe names of the builtins module (any of its spellings).
const UNSAFE_BUILTINS: &[(&str, &str)] = &[
    ("eval", "evaluates Python code"),
    ("exec", "executes Python code"),
    ("execfile", "executes a Python file"),
    ("compile", "compiles Python code"),
    ("open", "opens files"),
    ("file", "opens files"),
    (
        "getattr",
        "reaches any attribute, such as `os.system` through an imported module",
    ),
    ("setattr", "modifies objects and modules"),
    ("delattr", "modifies objects and modules"),
    ("__import__", "imports arbitrary modules"),
    ("reload", "re-imports modules"),
    ("globals", "exposes and modifies interpreter namespaces"),
    ("locals", "exposes and modifies interpreter namespaces"),
    ("vars", "exposes and modifies interpreter namespaces"),
    ("input", "reads from the terminal"),
    ("breakpoint", "opens a debugger that runs code"),
    ("apply", "calls arbitrary callables"),
];

/// Unsafe (module, name) pairs outside the unsafe modules.
const UNSAFE_NAMES: &[(&str, &str, &str)] = &[
    ("operator", "attrgetter", "reaches arbitrary attributes"),
    ("_operator", "attrgetter", "reaches arbitrary attributes"),
    ("operator", "methodcaller", "calls arbitrary methods"),
    ("_operator", "methodcaller", "calls arbitrary methods"),
    ("functools", "partial", "composes arbitrary calls"),
    ("_functools", "partial", "composes arbitrary calls"),
    ("functools", "reduce", "composes arbitrary calls"),
    ("_functools", "reduce", "composes arbitrary calls"),
    (
        "torch",
        "load",
        "loads a nested checkpoint, itself a pickle",
    ),
    (
        "torch.serialization",
        "load",
        "loads a nested checkpoint, itself a pickle",
    ),
    (
        "torch.serialization",
        "_load",
        "loads a nested checkpoint, itself a pickle",
    ),
    (
        "torch.storage",
        "_load_from_bytes",
        "loads a nested checkpoint, itself a pickle",
    ),
    (
        "torch._inductor.codecache",
        "compile_file",
        "compiles and loads native code",
    ),
    ("numpy", "load", "loads files, including nested pickles"),
    (
        "numpy.testing._private.utils",
        "runstring",
        "evaluates Python code",
    ),
];

const ALLOWED_REASON: &str = "is a known tensor or container rebuild helper";
const UNKNOWN_REASON: &str =
    "is not a known tensor-rebuild helper; loading the file imports it and may call it";
const EXTENSION_REASON: &str =
    "is resolved through the copyreg extension registry, which cannot be checked statically";
pub(super) const DYNAMIC_REASON: &str =
    "is computed while loading and can hide any import, such as `os.system`";

const TORCH_STORAGE_KINDS: &[&str] = &[
    "Float",
    "Half",
    "BFloat16",
    "Double",
    "Long",
    "Int",
    "Short",
    "Char",
    "Byte",
    "Bool",
    "ComplexFloat",
    "ComplexDouble",
    "QUInt8",
    "QInt8",
    "QInt32",
    "QUInt4x2",
    "QUInt2x4",
];

const TORCH_DTYPES: &[&str] = &[
    "float32",
    "float",
    "float16",
    "half",
    "bfloat16",
    "float64",
    "double",
    "int64",
    "long",
    "int32",
    "int",
    "int16",
    "short",
    "int8",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "complex32",
    "chalf",
    "complex64",
    "cfloat",
    "complex128",
    "cdouble",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bits16",
    "uint1",
    "uint2",
    "uint3",
    "uint4",
    "uint5",
    "uint6",
    "uint7",
    "int1",
    "int2",
    "int3",
    "int4",
    "int5",
    "int6",
    "int7",
];

const TORCH_QSCHEMES: &[&str] = &[
    "per_tensor_affine",
    "per_tensor_symmetric",
    "per_channel_affine",
    "per_channel_symmetric",
    "per_channel_affine_float_qparams",
];

const TORCH_REBUILD_HELPERS: &[&str] = &[
    "_rebuild_tensor",
    "_rebuild_tensor_v2",
    "_rebuild_tensor_v3",
    "_rebuild_parameter",
    "_rebuild_parameter_with_state",
    "_rebuild_qtensor",
    "_rebuild_sparse_tensor",
    "_rebuild_nested_tensor",
    "_rebuild_device_tensor_from_numpy",
    "_rebuild_device_tensor_from_cpu_tensor",
    "_rebuild_meta_tensor_no_storage",
    "_rebuild_wrapper_subclass",
];

const SAFE_BUILTINS: &[&str] = &[
    "set",
    "frozenset",
    "slice",
    "bytearray",
    "complex",
    "dict",
    "list",
    "tuple",
    "int",
    "float",
    "str",
    "bytes",
    "bool",
    "range",
];

/// Whether `module` is `prefix` or a submodule of it (whole dotted components only).
fn is_under(module: &str, prefix: &str) -> bool {
    module
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// `FloatStorage`, `BFloat16Storage`… (legacy typed storages).
fn is_torch_storage_class(name: &str) -> bool {
    name.strip_suffix("Storage")
        .is_some_and(|kind| TORCH_STORAGE_KINDS.contains(&kind))
}

/// `FloatTensor`, `BFloat16Tensor`… (legacy tensor classes).
fn is_torch_tensor_class(name: &str) -> bool {
    name.strip_suffix("Tensor")
        .is_some_and(|kind| TORCH_STORAGE_KINDS.contains(&kind))
}

/// The allowlist: PyTorch's `weights_only` globals plus the numpy and builtins rebuild helpers.
fn is_allowed(module: &str, name: &str) -> bool {
    match module {
        "collections" => matches!(name, "OrderedDict" | "Counter"),
        "torch._utils" => TORCH_REBUILD_HELPERS.contains(&name),
        "torch._tensor" => name == "_rebuild_from_type_v2",
        "torch" => {
            matches!(name, "Size" | "device" | "Tensor")
                || is_torch_storage_class(name)
                || is_torch_tensor_class(name)
                || TORCH_DTYPES.contains(&name)
                || TORCH_QSCHEMES.contains(&name)
        }
        "torch.cuda" => is_torch_storage_class(name) || is_torch_tensor_class(name),
        "torch.storage" => matches!(name, "UntypedStorage" | "TypedStorage"),
        "torch.serialization" => name == "_get_layout",
        "torch.nn.parameter" => name == "Parameter",
        "numpy.core.multiarray" | "numpy._core.multiarray" => {
            matches!(name, "_reconstruct" | "scalar")
        }
        "numpy.core.numeric" | "numpy._core.numeric" => name == "_frombuffer",
        "numpy" => matches!(name, "ndarray" | "dtype"),
        "numpy.dtypes" => name.strip_suffix("DType").is_some_and(|kind| {
            !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric())
        }),
        "_codecs" => name == "encode",
        "builtins" => SAFE_BUILTINS.contains(&name),
        // Python 2 spellings, which CPython maps to `builtins` when loading protocol 0–2 pickles.
        "__builtin__" => SAFE_BUILTINS.contains(&name) || name == "xrange",
        _ => false,
    }
}

/// The denylist, applied to one (module, name) reading of a global.
fn unsafe_reason(module: &str, name: &str) -> Option<&'static str> {
    if let Some((_, reason)) = UNSAFE_MODULES
        .iter()
        .find(|(prefix, _)| is_under(module, prefix))
    {
        return Some(reason);
    }
    if BUILTIN_MODULES.contains(&module) {
        if let Some((_, reason)) = UNSAFE_BUILTINS.iter().find(|(n, _)| *n == name) {
            return Some(reason);
        }
    }
    UNSAFE_NAMES
        .iter()
        .find(|(m, n, _)| *m == module && *n == name)
        .map(|(_, _, reason)| *reason)
}

/// Classifies a global imported by a pickle.
///
/// A dotted `name` is resolved by CPython (protocol ≥ 4) as an attribute chain, so `torch.serialization`
/// + `os.system` reaches `os.system`; every reading of such a chain is checked against the denylist.
pub fn classify(module: &str, name: &str) -> Classification {
    if let Some(reason) = unsafe_reason(module, name) {
        return Classification::new(Safety::Unsafe, reason);
    }
    if module == DYNAMIC || name == DYNAMIC {
        return Classification::new(Safety::Unsafe, DYNAMIC_REASON);
    }
    let parts: Vec<&str> = name.split('.').collect();
    for split in 1..parts.len() {
        let inner_module = parts[..split].join(".");
        let inner_name = parts[split..].join(".");
        if let Some(reason) = unsafe_reason(&inner_module, &inner_name) {
            return Classification::new(Safety::Unsafe, reason);
        }
    }
    if is_allowed(module, name) {
        return Classification::new(Safety::Allowed, ALLOWED_REASON);
    }
    if module == EXTENSION_MODULE && name.starts_with("extension[") {
        return Classification::new(Safety::Unknown, EXTENSION_REASON);
    }
    Classification::new(Safety::Unknown, UNKNOWN_REASON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_matches_whole_module_components() {
        let cases = [
            ("os", "system", Safety::Unsafe),
            ("os.path", "join", Safety::Unsafe),
            ("osmosis", "flow", Safety::Unknown),
            ("posix", "system", Safety::Unsafe),
            ("nt", "system", Safety::Unsafe),
            ("subprocess", "check_output", Safety::Unsafe),
            ("subprocessing", "x", Safety::Unknown),
            ("torch.hub", "load", Safety::Unsafe),
            ("torch.hubris", "load", Safety::Unknown),
            ("dill._dill", "loads", Safety::Unsafe),
            ("urllib.request", "urlopen", Safety::Unsafe),
            ("io", "open", Safety::Unsafe),
            ("iox", "open", Safety::Unknown),
        ];
        for (module, name, expected) in cases {
            assert_eq!(classify(module, name).safety, expected, "{module}.{name}");
        }
    }

    #[test]
    fn classification_of_builtins_and_known_callables() {
        let cases = [
            ("builtins", "eval", Safety::Unsafe),
            ("builtins", "exec", Safety::Unsafe),
            ("__builtin__", "eval", Safety::Unsafe),
            ("__builtins__", "__import__", Safety::Unsafe),
            ("builtins", "getattr", Safety::Unsafe),
            ("builtins", "open", Safety::Unsafe),
            ("builtins", "set", Safety::Allowed),
            ("__builtin__", "set", Safety::Allowed),
            ("builtins", "memoryview", Safety::Unknown),
            ("builtins", "object", Safety::Unknown),
            ("operator", "attrgetter", Safety::Unsafe),
            ("operator", "add", Safety::Unknown),
            ("functools", "partial", Safety::Unsafe),
            ("torch", "load", Safety::Unsafe),
            ("torch.storage", "_load_from_bytes", Safety::Unsafe),
            ("torch.jit", "load", Safety::Unknown),
            ("numpy", "load", Safety::Unsafe),
            ("numpy.testing._private.utils", "runstring", Safety::Unsafe),
            ("torch._inductor.codecache", "compile_file", Safety::Unsafe),
            ("joblib", "load", Safety::Unknown),
            ("collections", "defaultdict", Safety::Unknown),
        ];
        for (module, name, expected) in cases {
            assert_eq!(classify(module, name).safety, expected, "{module}.{name}");
        }
    }

    #[test]
    fn classification_allows_the_tensor_rebuild_set() {
        let allowed = [
            ("collections", "OrderedDict"),
            ("torch._utils", "_rebuild_tensor_v2"),
            ("torch._utils", "_rebuild_parameter"),
            ("torch._tensor", "_rebuild_from_type_v2"),
            ("torch", "FloatStorage"),
            ("torch", "BFloat16Storage"),
            ("torch.storage", "UntypedStorage"),
            ("torch", "Size"),
            ("torch", "device"),
            ("torch", "bfloat16"),
            ("torch", "float32"),
            ("torch.nn.parameter", "Parameter"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.dtypes", "Float32DType"),
            ("_codecs", "encode"),
        ];
        for (module, name) in allowed {
            assert_eq!(
                classify(module, name).safety,
                Safety::Allowed,
                "{module}.{name}"
            );
        }
        assert_eq!(classify("torch", "NotAStorage").safety, Safety::Unknown);
        assert_eq!(
            classify("torch._utils", "_rebuild_anything").safety,
            Safety::Unknown
        );
    }

    #[test]
    fn dotted_names_are_checked_as_attribute_chains() {
        // Protocol 4 resolves `torch.serialization` + `os.system` to the `os` module torch imported.
        assert_eq!(
            classify("torch.serialization", "os.system").safety,
            Safety::Unsafe
        );
        assert_eq!(classify("mylib", "builtins.eval").safety, Safety::Unsafe);
        assert_eq!(classify("torch", "Size.__new__").safety, Safety::Unknown);
    }
}
