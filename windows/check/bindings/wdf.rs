// Stand-in for the `wdf.rs` that wdk-sys 0.5.2's build script generates with bindgen (the
// functions declared in the wdf*.h headers themselves). KMDF routines are reached through the
// function table (`call_unsafe_wdf_function_binding!`, types in types.rs), and nothing in this
// build calls a routine the WDF headers declare directly: empty.
