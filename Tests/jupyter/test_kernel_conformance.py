"""The jupyter_kernel_test battery (message shapes of the Jupyter protocol) on fp's kernel."""
import unittest

import fpkernel
import jupyter_kernel_test

fpkernel.install("fp")


class FPKernelConformance(jupyter_kernel_test.KernelTests):
    kernel_name = "fp"
    language_name = "lua"
    file_extension = ".lua"
    code_hello_world = 'print("hello, world")'
    code_stderr = 'io.stderr:write("oops\\n")'
    completion_samples = [{"text": "fp.ein", "matches": {"einsum"}}, {"text": "fp.linalg.sv", "matches": {"svd"}}]
    complete_code_samples = ["x = 1", "for i = 1, 2 do end"]
    incomplete_code_samples = ["for i = 1, 2 do", "local t = {"]
    invalid_code_samples = ["x = = 1"]
    code_generate_error = 'error("boom")'
    code_execute_result = [{"code": "6 * 7", "result": "42"}, {"code": '"a" .. "b"', "result": "ab"}]
    code_display_data = [{"code": "fp.display(fp.tensor({1, 2}))", "mime": "text/html"},
                         {"code": 'fp.display(require("fp.plot").line({ {name = "a", y = {1, 2}} }))', "mime": "image/svg+xml"}]
    code_inspect_sample = "fp.einsum"


if __name__ == "__main__":
    unittest.main()
