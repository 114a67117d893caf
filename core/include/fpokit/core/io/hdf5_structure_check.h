#pragma once
// A damaged HDF5 file must give fpokit's one-line error, never a crash or a hang. libhdf5 itself
// (Debian 12 ships 1.10.8) is not robust against damaged files: fuzzing fpokit's readers found it
// copying out of bounds in H5HG_read (a damaged global heap behind a string attribute), asking for
// 2^60-byte allocations, and parsing for minutes in H5C_protect, all before any fpokit check could
// run (inputs under tests/fuzz/known/). So before a file is opened for real, its whole structure is
// read once in a forked child process: every group, link, attribute value (strings included),
// dataset header, chunk index and first element. A child that dies on a signal, exits abnormally
// or does not finish in time means the file is damaged, and the caller gets an Error; a child
// that finishes (whether or not HDF5 reported errors on the way, which the real open then reports
// with fpokit's own messages) lets the open go ahead.
//
// The cost is a fork and a metadata walk: milliseconds for fpokit's files, whose data is in a few
// large chunked datasets (the chunk index is walked, the chunks' data is not read).
//
// Fork and threads: the child has only the calling thread. libhdf5 is built thread-safe with one
// global lock, so no other thread may be inside HDF5 when the check runs (fpokit uses HDF5 from
// one thread at a time); otherwise the child would wait for the lock until its time limit.
#include <chrono>
#include <filesystem>
#include <functional>

namespace fpokit::core::hdf5 {

// Reads the structure of `path` in a child process; throws Error "<path> is damaged: ..." when
// the child crashed or ran out of time. Returns quietly when the file could not be examined at
// all (no fork, the file cannot be opened): the caller's open reports that. open_file calls it.
void check_structure_in_child(const std::filesystem::path& path);

// Runs `probe` in a child process under the same rules: a reader passes its own reading of `path`
// (what it will read, by name), because the generic walk cannot reach everything by name: libhdf5
// can fail to iterate an object's attributes (a damaged one among them) and still open a sound-
// looking one by name, then hang or crash reading its value. Exceptions in the probe are ignored
// (the parent's own reading reports them). Inside the child, further checks (open_file's included)
// are skipped.
void check_in_child(const std::filesystem::path& path, const std::function<void()>& probe);

// The time a structure check may take before the file counts as damaged: 60 s unless the
// environment variable FPOKIT_HDF5_CHECK_SECONDS says otherwise (0 turns the check off; a value
// that is not a number of seconds is an Error). fpokit's files take well under a second: 0.14 s for
// four datasets of 30 000 chunks each. The fuzzing harnesses shorten it; 0 turns it off here too.
void set_structure_check_time_limit(std::chrono::milliseconds limit) noexcept;
std::chrono::milliseconds structure_check_time_limit();

}  // namespace fpokit::core::hdf5
