//! The book's links point at files that exist, and the commands it shows
//! name examples, scenarios, recipes, benches and binaries that exist.

#[test]
fn the_book_has_no_broken_links_or_stale_commands() {
    let problems = xtask::check::check(&xtask::workspace_root());
    let listing: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.file, p.what)).collect();
    assert!(problems.is_empty(), "the book is out of date:\n{}", listing.join("\n"));
}
