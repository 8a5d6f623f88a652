#!/usr/bin/python3
"""tools/compare-stacks on small bpftrace map files: match, covers (SIM has extra stacks),
differ (near miss), one side only, bad input. Run by ctest (tests/CMakeLists.txt) with the source directory as the working one."""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "compare-stacks")
CAPTURE = os.path.join(ROOT, "traces", "amd-host-iommu_iova_to_phys.bt.txt")

A = "@[\n    iommu_iova_to_phys+5\n    iommu_dma_unmap_page+50\n    nvme_irq+114\n]: 3\n"
B = "@[\n    iommu_iova_to_phys+5\n    vfio_unmap_unpin+258\n    __x64_sys_ioctl+145\n]: 1\n"


class CompareStacks(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_tool(self, *args):
        p = subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True)
        return p.returncode, p.stdout, p.stderr

    def test_same_frames_with_other_offsets_other_maps_and_blank_lines_match(self):
        sim = self.write("sim", A.replace("+5", "+0").replace("+50", "+0").replace("+114", "+0")
                         + "\n" + B.replace("]: 1", "]: 7"))
        real = self.write("real", "Attaching 1 probe...\n\n@other: 12\n" + B + "\n" + A)
        rc, out, _ = self.run_tool(sim, real)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.strip().splitlines()[-1], "verdict: match")
        # counts and shares of each side: A is 3 of 10 in SIM, 3 of 4 in REAL
        self.assertRegex(out, r"\n\s+3\s+30\.00%\s+3\s+75\.00%\s+iommu_iova_to_phys <- \.\.\. <- nvme_irq")
        self.assertRegex(out, r"\n\s+7\s+70\.00%\s+1\s+25\.00%\s+iommu_iova_to_phys <- \.\.\. <- __x64_sys_ioctl")

    def test_duplicate_entries_are_summed(self):
        sim = self.write("sim", A + A)
        real = self.write("real", A.replace("]: 3", "]: 6"))
        rc, out, _ = self.run_tool(sim, real)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"\n\s+6\s+100\.00%\s+6\s+100\.00%")

    def test_every_real_stack_in_sim_with_extra_sim_stacks_covers(self):
        # SIM has A and B as REAL does, and A over an interrupted thread (an extra outer frame):
        # covers, exit 0, the extra stack listed with its share and where it leaves A.
        a_over = A.replace("    nvme_irq+114\n", "    nvme_irq+114\n    blk_mq_flush_plug_list+65\n")
        sim = self.write("sim", A + B + a_over.replace("]: 3", "]: 6"))
        real = self.write("real", A + B)
        rc, out, _ = self.run_tool(sim, real)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.strip().splitlines()[-1], "verdict: covers (1 only in SIM)")
        self.assertRegex(out, r"\n\s+6\s+60\.00%\s+-\s+only in SIM: iommu_iova_to_phys <- \.\.\. "
                              r"<- blk_mq_flush_plug_list \(4 frames\)")
        self.assertIn("agrees with a REAL stack for 3 frames; frame 4: SIM blk_mq_flush_plug_list, "
                      "REAL (end of stack)", out)
        self.assertIn("(that REAL stack: iommu_iova_to_phys <- ... <- nvme_irq, 3 frames)", out)
        self.assertNotIn("only in REAL", out)
        # The other way round (REAL has a stack SIM lacks): differ.
        rc, out, _ = self.run_tool(real, sim)
        self.assertEqual(rc, 1, out)
        self.assertEqual(out.strip().splitlines()[-1], "verdict: differ (0 only in SIM, 1 only in REAL)")

    def test_a_near_miss_differs_and_names_the_first_differing_frame(self):
        sim = self.write("sim", A.replace("nvme_irq", "common_interrupt"))
        real = self.write("real", A)
        rc, out, _ = self.run_tool(sim, real)
        self.assertEqual(rc, 1, out)
        self.assertIn("only in SIM: iommu_iova_to_phys <- ... <- common_interrupt", out)
        self.assertIn("only in REAL: iommu_iova_to_phys <- ... <- nvme_irq", out)
        self.assertIn("agrees with a REAL stack for 2 frames; frame 3: SIM common_interrupt, "
                      "REAL nvme_irq", out)
        self.assertEqual(out.strip().splitlines()[-1], "verdict: differ (1 only in SIM, 1 only in REAL)")

    def test_a_stack_on_one_side_only_differs(self):
        sim = self.write("sim", A)
        real = self.write("real", A + B)
        rc, out, _ = self.run_tool(sim, real)
        self.assertEqual(rc, 1, out)
        self.assertIn("only in REAL: iommu_iova_to_phys <- ... <- __x64_sys_ioctl", out)
        self.assertNotIn("only in SIM:", out)
        self.assertNotIn("near miss", out)  # it shares only the probe function with A
        self.assertEqual(out.strip().splitlines()[-1], "verdict: differ (0 only in SIM, 1 only in REAL)")

    def test_a_shorter_stack_is_a_near_miss_at_its_end(self):
        sim = self.write("sim", "@[\n    iommu_iova_to_phys+0\n    iommu_dma_unmap_page+0\n]: 1\n")
        real = self.write("real", A)
        rc, out, _ = self.run_tool(sim, real)
        self.assertEqual(rc, 1)
        self.assertIn("frame 3: SIM (end of stack), REAL nvme_irq", out)

    def test_the_capture_matches_itself(self):
        rc, out, _ = self.run_tool(CAPTURE, CAPTURE)
        self.assertEqual(rc, 0, out)
        self.assertIn("3 stacks, 6863 hits", out)

    def test_bad_input_exits_2_with_a_message(self):
        good = self.write("good", A)
        cases = {
            "missing": (os.path.join(self.tmp.name, "nope"), "cannot read"),
            "unclosed": (self.write("unclosed", "@[\n    f+0\n"), "not closed"),
            "empty": (self.write("empty", "\n\n"), "no stacks"),
            "no frames": (self.write("noframes", "@[\n]: 3\n"), "no frames"),
            "garbage frame": (self.write("garbage", "@[\n    two words\n]: 1\n"), "not a frame"),
        }
        for name, (path, msg) in cases.items():
            with self.subTest(name):
                for args in ((path, good), (good, path)):
                    rc, out, err = self.run_tool(*args)
                    self.assertEqual(rc, 2, out + err)
                    self.assertIn(msg, err)
        rc, _, err = self.run_tool(good)
        self.assertEqual(rc, 2)
        self.assertIn("usage", err)


if __name__ == "__main__":
    unittest.main()
