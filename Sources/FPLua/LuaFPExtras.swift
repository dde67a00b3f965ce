import CLua
import FPTensor

/// fp functions backed by FPTensor's random, linear algebra, sorting and file modules.
enum LuaFPExtras {
    static var functions: [(String, LuaFunction)] { [] }
    static var submodules: [(String, [(String, LuaFunction)])] { [] }
}
