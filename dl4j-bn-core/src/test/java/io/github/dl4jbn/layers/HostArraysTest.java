package io.github.dl4jbn.layers;

import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The layer's output arrays are the arrays DL4J's own {@code createUninitialized} makes, in the same place. */
@org.junit.jupiter.api.Tag("once")   // kernel-agnostic: the default run only (docs/design.md, which tests run where)
class HostArraysTest {

    private static final WorkspaceConfiguration WS = WorkspaceConfiguration.builder()
            .policyAllocation(AllocationPolicy.STRICT).policyLearning(LearningPolicy.FIRST_LOOP).build();

    @AfterEach
    void destroyWorkspaces() {
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
    }

    @Test
    void outputArraysMatchDl4jsInShapeInformationAndWorkspace() {
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.builder()
                .with(ArrayType.ACTIVATIONS, "TEST_ACT", WS)
                .with(ArrayType.ACTIVATION_GRAD, "TEST_GRAD", WS)
                .build();
        for (long[] shape : new long[][]{{60, 100}, {1, 4}, {5, 1}, {3, 4, 5, 6}, {2, 7, 9}, {1, 7, 1}, {2, 3, 4, 5, 6}}) {
            for (DataType type : new DataType[]{DataType.FLOAT, DataType.DOUBLE}) {
                try (MemoryWorkspace ws = mgr.notifyScopeEntered(ArrayType.ACTIVATIONS)) {
                    INDArray dl4j = mgr.createUninitialized(ArrayType.ACTIVATIONS, type, shape, 'c');
                    INDArray ours = HostArrays.createUninitialized(mgr, ArrayType.ACTIVATIONS, type, shape);
                    assertArrayEquals(dl4j.shapeInfoJava(), ours.shapeInfoJava(), "shape information");
                    assertTrue(HostArrays.isDenseRowMajor(ours), ours.shapeInfoToString());
                    assertEquals(dl4j.length(), ours.data().length());
                    assertTrue(ours.isAttached());
                    assertEquals("TEST_ACT", ours.data().getParentWorkspace().getId());
                    ours.assign(2.5);                                    // holds and sums its values like any array
                    assertEquals(2.5 * ours.length(), ours.sumNumber().doubleValue(), 1e-9);
                }
            }
        }
    }

    @Test
    void outputArraysAreDetachedWhenTheManagerScopesTheirTypeOut() {
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.builder()
                .with(ArrayType.ACTIVATIONS, "TEST_ACT", WS)
                .defaultNoWorkspace()
                .build();
        try (MemoryWorkspace ws = mgr.notifyScopeEntered(ArrayType.ACTIVATIONS)) {
            INDArray grad = HostArrays.createUninitialized(mgr, ArrayType.ACTIVATION_GRAD, DataType.FLOAT, new long[]{4, 5});
            assertFalse(grad.isAttached(), "ACTIVATION_GRAD is scoped out of workspaces");
        }
    }
}
