// README.md's parameter table is the output of `sim --list-params --format md`, kept between the
// lines `<!-- params:begin -->` and `<!-- params:end -->` (DESIGN.md: the schema drives the
// README's table, so they cannot drift). tools/update-readme-params regenerates the block.
#include "tests/sim/sim_process.h"

#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace simtest {
namespace {

constexpr const char* kBegin = "<!-- params:begin -->";
constexpr const char* kEnd = "<!-- params:end -->";

TEST(Readme, ParameterTableIsCurrent) {
    const std::string readme = read_text(source_path("README.md"));
    std::istringstream in(readme);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);)
        lines.push_back(l);

    std::vector<std::size_t> begins, ends;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (lines[i] == kBegin) begins.push_back(i);
        if (lines[i] == kEnd) ends.push_back(i);
    }
    ASSERT_EQ(begins.size(), 1u) << "README.md needs exactly one line '" << kBegin << "'";
    ASSERT_EQ(ends.size(), 1u) << "README.md needs exactly one line '" << kEnd << "'";
    ASSERT_LT(begins[0], ends[0]) << "the params markers are in the wrong order";

    std::string block;
    for (std::size_t i = begins[0] + 1; i < ends[0]; ++i)
        block += lines[i] + "\n";

    const SimRun r = run_sim({"--list-params", "--format", "md"});
    ASSERT_EQ(r.status, 0) << describe(r);
    ASSERT_FALSE(r.out.empty());
    if (block == r.out) return;
    // Point at the first line that differs rather than printing two 100-line tables.
    std::istringstream a(block), b(r.out);
    std::string la, lb;
    std::size_t n = begins[0] + 2;
    for (;; ++n) {
        const bool ga = static_cast<bool>(std::getline(a, la));
        const bool gb = static_cast<bool>(std::getline(b, lb));
        if (!ga) la = "(end of the block)";
        if (!gb) lb = "(end of the output)";
        if (la != lb || (!ga && !gb)) break;
    }
    ADD_FAILURE() << "README.md's parameter table differs from `sim --list-params --format md`; "
                     "run tools/update-readme-params.\nFirst difference, README.md line "
                  << n << ":\n  README: " << la << "\n  sim:    " << lb;
}

} // namespace
} // namespace simtest
