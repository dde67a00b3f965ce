import CLua
import FPTensor

/// Tensors as Lua userdata: the userdata holds a retained reference to the Swift `Tensor`;
/// `__gc` releases it. Lua's collector is told about tensor memory: each new allocation
/// advances the incremental collector by as many kilobytes, and a full collection runs when
/// live tensor bytes double since the last one, so loops that make tensors stay bounded.
public enum LuaTensor {
    public static let metatableName = "fp.Tensor"
    nonisolated(unsafe) static var liveAfterLastFullGC = 0
    /// Below this many live tensor bytes no forced full collection happens.
    static let fullGCFloor = 256 << 20

    public static func get(_ L: OpaquePointer, _ i: Int32) -> Tensor? {
        guard let p = luaL_testudata(L, i, metatableName) else { return nil }
        let box = p.assumingMemoryBound(to: UnsafeRawPointer?.self)
        guard let raw = box.pointee else { return nil }
        return Unmanaged<Tensor>.fromOpaque(raw).takeUnretainedValue()
    }

    public static func push(_ L: OpaquePointer, _ t: Tensor) {
        accountAllocations(L)
        let p = fp_newuserdata(L, MemoryLayout<UnsafeRawPointer?>.size)
        p?.assumingMemoryBound(to: UnsafeRawPointer?.self).pointee = UnsafeRawPointer(Unmanaged.passRetained(t).toOpaque())
        _ = fp_getmetatable_named(L, metatableName)
        lua_setmetatable(L, -2)
    }

    /// Steps or runs Lua's GC according to the tensor bytes allocated since the last call.
    static func accountAllocations(_ L: OpaquePointer) {
        let fresh = Storage.allocatedSinceCheck
        guard fresh > 0 else { return }
        Storage.allocatedSinceCheck = 0
        if Storage.liveBytes > Swift.max(2 * liveAfterLastFullGC, fullGCFloor) {
            fp_gc_collect(L)
            liveAfterLastFullGC = Storage.liveBytes
        } else if fresh >= 64 << 10 {
            fp_gc_step(L, Int32(Swift.min(fresh >> 10, Int(Int32.max))))
        }
    }

    /// __gc: drop the Swift reference (the memory goes when no view needs it any more).
    static func release(_ L: OpaquePointer, _ i: Int32) {
        guard let p = luaL_testudata(L, i, metatableName) else { return }
        let box = p.assumingMemoryBound(to: UnsafeRawPointer?.self)
        if let raw = box.pointee {
            Unmanaged<Tensor>.fromOpaque(raw).release()
            box.pointee = nil
        }
    }
}
