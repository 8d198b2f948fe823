package io.github.dl4jbn.internal.kernels;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/**
 * How tensors whose passes compute in float store their elements: FLOAT itself, and the 16-bit types, which are
 * read into float chunks and rounded back (to nearest, ties to even) on the way out. Java 17 has no
 * half-precision conversion of its own ({@code Float.float16ToFloat} came in Java 20).
 */
public enum FloatCodec {
    /** IEEE 754 single precision, 4 bytes. */
    FLOAT,
    /** IEEE 754 half precision (ND4J's HALF), 2 bytes. */
    HALF,
    /** bfloat16, the upper half of a float (ND4J's BFLOAT16), 2 bytes. */
    BFLOAT16;

    /**
     * A window as this codec reads it: typed views taken once per window. The float view is there for every
     * codec, since a 16-bit tensor's passes read their mask, which is FLOAT, through the same kind of window.
     */
    static final class Window {
        final ByteBuffer bytes;
        final FloatBuffer floats;
        final ShortBuffer shorts;

        Window(ByteBuffer bytes, FloatCodec codec) {
            ByteBuffer b = bytes.duplicate().order(ByteOrder.nativeOrder());
            this.bytes = b;
            this.floats = b.asFloatBuffer();
            this.shorts = codec == FLOAT ? null : b.asShortBuffer();
        }
    }

    /**
     * @param window a native-order window of these elements
     * @param index  an element index in it
     * @return that element as a float
     */
    float get(ByteBuffer window, long index) {
        switch (this) {
            case FLOAT:
                return window.getFloat((int) (4 * index));
            case HALF:
                return halfToFloat(window.getShort((int) (2 * index)));
            default:
                return Float.intBitsToFloat(window.getShort((int) (2 * index)) << 16);
        }
    }

    /** Reads elements {@code [index, index + n)} of a window into {@code to[0, n)}. */
    void read(Window w, long index, float[] to, int n) {
        if (this == FLOAT) {
            w.floats.get((int) index, to, 0, n);
            return;
        }
        short[] s = Scratch.shorts(n);
        w.shorts.get((int) index, s, 0, n);
        for (int i = 0; i < n; i++) {
            to[i] = this == HALF ? halfToFloat(s[i]) : Float.intBitsToFloat(s[i] << 16);
        }
    }

    /** Writes {@code from[0, n)} into elements {@code [index, index + n)} of a window. */
    void write(float[] from, int n, Window w, long index) {
        if (this == FLOAT) {
            w.floats.put((int) index, from, 0, n);
            return;
        }
        short[] s = Scratch.shorts(n);
        for (int i = 0; i < n; i++) {
            s[i] = this == HALF ? floatToHalf(from[i]) : floatToBfloat16(from[i]);
        }
        w.shorts.put((int) index, s, 0, n);
    }

    /**
     * @param h an IEEE half-precision value's bits
     * @return its exact float value
     */
    static float halfToFloat(short h) {
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | mantissa << 13);             // infinity, NaN
        }
        if (exponent == 0) {
            float subnormal = mantissa * 0x1p-24f;                                         // exact
            return sign == 0 ? subnormal : -subnormal;
        }
        return Float.intBitsToFloat(sign | (exponent + 112) << 23 | mantissa << 13);     // rebias 15 -> 127
    }

    /**
     * @param f a float
     * @return the bits of the nearest half-precision value, ties to even; beyond 65504 infinity
     */
    static short floatToHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7fffffff;
        if (abs >= 0x7f800000) {                                   // infinity, NaN (kept quiet)
            return (short) (sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 | (abs >>> 13) & 0x3ff : 0));
        }
        if (abs >= 0x477ff000) {                                   // 65520 and above round to infinity
            return (short) (sign | 0x7c00);
        }
        if (abs < 0x38800000) {                                    // below 2^-14: subnormal, units of 2^-24
            return (short) (sign | (int) Math.rint(Float.intBitsToFloat(abs) * 0x1p24f));
        }
        int rebiased = abs - 0x38000000;                           // exponent 127 -> 15
        return (short) (sign | (rebiased + 0xfff + ((rebiased >>> 13) & 1)) >>> 13);
    }

    /**
     * @param f a float
     * @return the bits of the nearest bfloat16 value, ties to even
     */
    static short floatToBfloat16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x40);                 // NaN stays NaN
        }
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }
}
