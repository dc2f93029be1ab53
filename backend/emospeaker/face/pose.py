"""Head pose: the FaceTrack's six head channels as rotations and rigid transforms.

Frame: the face frame of `emospeaker.face.anatomy` (+x the character's left, +y up, +z
out of the face). Signs follow `emospeaker.channels`: pitch > 0 looks down, yaw > 0 turns to
the character's left, roll > 0 tilts the top of the head to the character's left. The
rotation is R = Ry(yaw) @ Rx(pitch) @ Rz(-roll), applied about `HEAD_PIVOT` (the upper
neck); headX/Y/Z translate along +x/+y/+z in metres.
"""

from __future__ import annotations

import numpy as np

from .anatomy import HEAD_PIVOT


def _rx(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(*np.shape(a), 3, 3)


def _ry(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(*np.shape(a), 3, 3)


def _rz(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(*np.shape(a), 3, 3)


def head_rotation(angles: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] from (pitch, yaw, roll) [..., 3] in radians."""
    angles = np.asarray(angles, dtype=np.float64)
    pitch, yaw, roll = angles[..., 0], angles[..., 1], angles[..., 2]
    return _ry(yaw) @ _rx(pitch) @ _rz(-roll)


def head_angles(rotation: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) [..., 3] of rotation matrices [..., 3, 3] (inverse of head_rotation)."""
    r = np.asarray(rotation, dtype=np.float64)
    pitch = np.arcsin(np.clip(-r[..., 1, 2], -1.0, 1.0))
    yaw = np.arctan2(r[..., 0, 2], r[..., 2, 2])
    roll = -np.arctan2(r[..., 1, 0], r[..., 1, 1])
    return np.stack([pitch, yaw, roll], -1)


def head_transform(head: np.ndarray) -> np.ndarray:
    """4x4 rigid transforms [..., 4, 4] from the six head channels [..., 6]."""
    head = np.asarray(head, dtype=np.float64)
    rot = head_rotation(head[..., :3])
    out = np.zeros((*head.shape[:-1], 4, 4))
    out[..., :3, :3] = rot
    out[..., :3, 3] = HEAD_PIVOT - rot @ HEAD_PIVOT + head[..., 3:6]
    out[..., 3, 3] = 1.0
    return out


NECK_SHARE = 0.5  # the neck turns by this share of the head's rotation (it follows translation)


def neck_transform(head: np.ndarray) -> np.ndarray:
    """4x4 transforms of the neck for head channels [..., 6]: part of the turn, all the move."""
    head = np.asarray(head, dtype=np.float64).copy()
    head[..., :3] *= NECK_SHARE
    return head_transform(head)


def apply_head_pose(points: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Points [..., N, 3] moved by head channels [..., 6] (broadcast over leading axes)."""
    t = head_transform(head)
    return np.einsum("...ij,...nj->...ni", t[..., :3, :3], points) + t[..., None, :3, 3]
