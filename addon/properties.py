"""The add-on's data: eight animatable emotion intensities and the channel mapping on the target
object, and the Generate settings on the scene. All of it saves with the .blend file."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from . import backend, compat
from .arkit import EMOTIONS, HEAD_CHANNELS, MAX_INTENSITY

EMOTION_ITEMS = tuple((e, e.capitalize(), f"The {e} category") for e in EMOTIONS)  # enum items


def _emotion(name: str) -> FloatProperty:
    return FloatProperty(
        name=name.capitalize(),
        description=f"Intensity of {name}: 0 none, 1 the strongest trained level (animatable)",
        min=0.0,
        max=MAX_INTENSITY,
        soft_max=1.0,
        options={"ANIMATABLE"},
    )


class ChannelBinding(bpy.types.PropertyGroup):
    """One row of the mapping: a FaceTrack channel, the shape key it drives, gain and offset."""

    channel: StringProperty(name="Channel", description="FaceTrack channel (ARKit name)")
    shape_key: StringProperty(
        name="Shape Key", description="Shape key that receives the channel (empty: none)"
    )
    gain: FloatProperty(
        name="Gain",
        default=1.0,
        soft_min=-2.0,
        soft_max=2.0,
        description="Multiplies the channel before it reaches the shape key (or head pose)",
    )
    offset: FloatProperty(
        name="Offset", default=0.0, soft_min=-1.0, soft_max=1.0, description="Added at rest"
    )
    enabled: BoolProperty(
        name="Enabled", default=True, description="Bake this channel (off: leave it alone)"
    )

    @property
    def is_head(self) -> bool:
        return self.channel in HEAD_CHANNELS


class SavedState(bpy.types.PropertyGroup):
    """What one owner (the face's shape keys, or a head target) had before the first bake:
    restored exactly by Clear Bake (see restore.py)."""

    kind: StringProperty(name="Kind", description="KEY: the face's shape keys; HEAD: a head target")
    obj: PointerProperty(
        type=bpy.types.Object, name="Object", description="The face, or the head target"
    )
    bone: StringProperty(name="Bone", description="The head bone, for an armature")
    values: StringProperty(name="Values", description="The values, as JSON")
    action: PointerProperty(
        type=bpy.types.Action, name="Action", description="The action that was active there"
    )
    slot: StringProperty(name="Slot", description="Its slot's identifier (Blender 4.4+)")


class PoseValue(bpy.types.PropertyGroup):
    """One channel of a custom emotion pose."""

    channel: StringProperty(name="Channel", description="ARKit blendshape name")
    value: FloatProperty(name="Value", min=-1.0, max=1.0, description="Weight at intensity 1")


class EmotionPose(bpy.types.PropertyGroup):
    """The character's own face for one emotion at intensity 1 (its shape keys as stored by
    Store Pose, read back through the channel mapping); replaces the built-in prototype."""

    emotion: StringProperty(name="Emotion", description="The emotion category of this pose")
    values: CollectionProperty(
        type=PoseValue, name="Values", description="Channel weights at intensity 1"
    )


# Eight floats named after the categories, in the backend's order (curves are sent that way).
# They are keyed on the character's emotion object (see emotion.py), never on the face itself.
_ObjectAnnotations = {name: _emotion(name) for name in EMOTIONS}
_ObjectAnnotations.update(
    mapping=CollectionProperty(
        type=ChannelBinding, name="Channel Mapping",
        description="Which shape key each FaceTrack channel drives, with gain and offset",
    ),
    mapping_index=IntProperty(name="Active Row", description="The selected mapping row"),
    emotion_object=PointerProperty(
        type=bpy.types.Object,
        name="Emotion Keys",
        description="The EmoSpeaker object whose own action holds this character's emotion keys",
    ),
    poses=CollectionProperty(
        type=EmotionPose, name="Emotion Poses",
        description="This character's own poses per emotion (Store Pose), used by Generate",
    ),
    mouth_gain=FloatProperty(
        name="Mouth", default=1.0, min=0.0, max=2.0,
        description="How wide this character's jaw and lips open when speaking "
        "(engine option lip_gain)",
    ),
    head_motion=FloatProperty(
        name="Head Motion", default=1.0, min=0.0, max=3.0,
        description="How much this character's head moves and brows rise with the speech "
        "(engine option head_motion)",
    ),
    blink_rate=FloatProperty(
        name="Blink Rate", default=1.0, min=0.0, max=4.0,
        description="How often this character blinks, relative to the emotion's natural rate "
        "(engine option blink_rate)",
    ),
    saved=CollectionProperty(
        type=SavedState, name="Before Bake",
        description="What Clear Bake puts back: the state before the first bake",
    ),
    head_owner=PointerProperty(
        type=bpy.types.Object, name="Head Target Baked",
        description="Where the last bake put head pose (a new target first clears this one)",
    ),
    head_owner_bone=StringProperty(
        name="Head Bone Baked", description="The bone of that target, for an armature"
    ),
)  # fmt: skip
EmotionState = type(
    "EmotionState",
    (bpy.types.PropertyGroup,),
    {
        "__doc__": "One character: emotion intensities (animatable), channel mapping, custom "
        "emotion poses and gains, and what Clear Bake restores.",
        "__annotations__": _ObjectAnnotations,
    },
)


def _sound_strips(self, context, edit_text):  # noqa: ANN001 - Blender's search callback
    return [s.name for s in compat.sequencer_strips(context.scene) if s.type == "SOUND"]


def _engines(self, context, edit_text):  # noqa: ANN001
    return backend.engine_names()


def _bones(self, context, edit_text):  # noqa: ANN001
    arm = self.head_object
    return [b.name for b in arm.data.bones] if arm and arm.type == "ARMATURE" else []


def _is_mesh(self, obj) -> bool:  # noqa: ANN001
    return obj.type == "MESH"


class SceneSettings(bpy.types.PropertyGroup):
    """What Generate and Render Shot use: target, audio, transcript, engine, head target,
    portrait and render choices, keying choice."""

    target: PointerProperty(
        type=bpy.types.Object,
        name="Face",
        description="Mesh whose shape keys receive the animation (and which holds the emotions)",
        poll=_is_mesh,
    )
    audio_source: EnumProperty(
        name="Audio",
        description="Where the dialogue comes from",
        items=(
            ("STRIP", "Sound Strip", "A sound strip of the Sequencer, at its start frame"),
            ("FILE", "File", "A sound file, starting at the frame below"),
        ),
        default="STRIP",
    )
    sound_strip: StringProperty(
        name="Strip", description="Sound strip with the dialogue", search=_sound_strips
    )
    audio_file: StringProperty(
        name="File", subtype="FILE_PATH", description="Sound file with the dialogue"
    )
    file_start: IntProperty(
        name="Start Frame", default=1, description="Timeline frame where the file's sound begins"
    )
    transcript: StringProperty(
        name="Transcript", description="What is said (optional: improves lip-sync timing)"
    )
    transcript_text: PointerProperty(
        type=bpy.types.Text,
        name="Transcript Text",
        description="Text datablock with the transcript (wins over the line above)",
    )
    engine: StringProperty(
        name="Engine",
        default="default",
        search=_engines,
        description="Backend engine: default (rules, no weights) or neural",
    )
    options: StringProperty(
        name="Options", description="Engine options as name=value, separated by commas"
    )
    seed: IntProperty(
        name="Seed",
        default=0,
        min=0,
        description="Seed for blinks, gaze and head drift (same seed, same animation)",
    )
    head_mode: EnumProperty(
        name="Head Pose",
        description="Where the head's turns and nods go",
        # numbered: files saved before Automatic existed keep their choice
        items=(
            ("AUTO", "Automatic", "The rig's head (else neck) bone, else the face's top-level "
             "parent, else the face turned about a pivot behind its eyes", "NONE", 3),
            ("OBJECT", "Object", "Turn an object (its delta transform); empty: the face, about "
             "a pivot behind its eyes", "NONE", 0),
            ("BONE", "Bone", "Turn a bone of an armature", "NONE", 1),
            ("NONE", "None", "Do not bake head pose", "NONE", 2),
        ),
        default="AUTO",
    )  # fmt: skip
    head_object: PointerProperty(
        type=bpy.types.Object,
        name="Head",
        description="Object to turn (empty: the face), or the armature with the head bone",
    )
    head_bone: StringProperty(
        name="Bone", default="head", search=_bones, description="Bone that turns the head"
    )
    portrait_image: PointerProperty(
        type=bpy.types.Image,
        name="Portrait",
        description="Photo to animate (its file is sent; wins over the file below). None: "
        "the built-in head",
    )
    portrait_file: StringProperty(
        name="Portrait File",
        subtype="FILE_PATH",
        description="Photo to animate (jpg, png); empty: render the built-in head",
    )
    render_size: EnumProperty(
        name="Size",
        description="Size of the rendered video",
        items=(
            ("256", "256", "256x256 around the face (fast)"),
            ("512", "512", "512x512 around the face"),
            ("FULL", "Full", "The whole portrait at its own size"),
        ),
        default="512",
    )
    face_index: IntProperty(
        name="Face",
        default=-1,
        min=-1,
        description="Which face of the portrait, 0 = leftmost (-1: the only one)",
    )
    render_motion: EnumProperty(
        name="Motion",
        description="What the face does in the rendered video",
        items=(
            ("BAKED", "Baked Animation", "What the face does on screen over the shot, with "
             "your edits (a new animation when nothing is baked there)"),
            ("GENERATE", "New Animation", "Animate the dialogue afresh with the settings above"),
        ),
        default="BAKED",
    )  # fmt: skip
    render_folder: StringProperty(
        name="Folder",
        subtype="DIR_PATH",
        default="//renders/",
        description="Where the video goes, as <shot name>.mp4 (a file not yet saved uses the "
        "add-on's user folder)",
    )
    key_emotion: EnumProperty(
        name="Emotion",
        items=EMOTION_ITEMS,
        default="happy",
        description="Emotion that Key Emotion keys and Store Pose stores",
    )
    key_intensity: FloatProperty(
        name="Intensity",
        default=1.0,
        min=0.0,
        max=MAX_INTENSITY,
        soft_max=1.0,
        description="Intensity Key Emotion keys: 0 none, 1 the strongest trained level",
    )
    key_exclusive: BoolProperty(
        name="Only This Emotion",
        default=True,
        description="Set the other seven to 0 in the key (off: keep their current values)",
    )


CLASSES = (ChannelBinding, SavedState, PoseValue, EmotionPose, EmotionState, SceneSettings)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Object.emospeaker = PointerProperty(type=EmotionState)
    bpy.types.Scene.emospeaker = PointerProperty(type=SceneSettings)


def unregister() -> None:
    del bpy.types.Scene.emospeaker
    del bpy.types.Object.emospeaker
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
