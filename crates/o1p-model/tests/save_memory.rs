//! How much host memory saving a model takes on top of the model itself. A save that holds a
//! host copy of every weight until the file is complete doubles a real model's footprint at the
//! end of a run (measured at the 1.5B shape: the export was the whole run's peak), so this
//! binary counts every heap byte through its own global allocator and bounds the save's
//! high-water mark by a few tensors, not the model.
//!
//! It is its own test binary because the counter sees every thread of the process: one test,
//! nothing running beside it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::DType;
use o1p_model::{ModelConfig, weights};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted(unsafe { System.alloc(layout) }, layout.size())
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted(unsafe { System.alloc_zeroed(layout) }, layout.size())
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        }
        counted(new, new_size)
    }
}

/// Counts `size` bytes as allocated when `ptr` is (a null pointer allocated nothing).
fn counted(ptr: *mut u8, size: usize) -> *mut u8 {
    if !ptr.is_null() {
        let now = CURRENT.fetch_add(size, Ordering::SeqCst) + size;
        PEAK.fetch_max(now, Ordering::SeqCst);
    }
    ptr
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated above the level at the start while `f` runs.
fn peak_above_start(f: impl FnOnce()) -> usize {
    let start = CURRENT.load(Ordering::SeqCst);
    PEAK.store(start, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - start
}

#[test]
fn saving_holds_one_tensor_at_a_time_not_the_model() {
    // 8 layers of width 256 with a SwiGLU of 1024: 35 MB of f32 weights, the largest tensor
    // (an MLP weight) 1 MB.
    let config = ModelConfig::qwen2(1024, 256, 1024, 8, 4, 2);
    let device = o1p_model::Backend::Flex.device().unwrap();
    let mut init = weights::RandomInit::new(7, 0.02);
    let model = weights::build_model(&config, &mut init, &device, DType::F32).unwrap();
    let dir = std::env::temp_dir().join(format!("o1p-save-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    let model_bytes = std::fs::metadata({
        weights::save_pretrained(&model, &config, &dir).unwrap();
        dir.join("model.safetensors")
    })
    .unwrap()
    .len() as usize;
    assert!(model_bytes > 30_000_000, "{model_bytes}");
    let largest = 256 * 1024 * 4;

    // Measured on the second save (the first one's one-time allocations are not the point).
    let pretrained = peak_above_start(|| weights::save_pretrained(&model, &config, &dir).unwrap());
    let stored = peak_above_start(|| weights::save_stored(&model, &config, &dir).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();

    // A tensor's host copy, its transposed copy, the 1 MiB write buffer and the header.
    let bound = 4 * largest + (2 << 20);
    for (what, peak) in [("save_pretrained", pretrained), ("save_stored", stored)] {
        assert!(
            peak < bound,
            "{what} allocated {peak} bytes at its peak for a {model_bytes}-byte model \
             (bound {bound}: a few tensors at a time)"
        );
    }
}
