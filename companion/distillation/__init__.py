"""Knowledge distillation (survey §2.1): KD and logit-regression losses, cached teacher targets, FitNets hints, students."""
from . import hints, losses, students, targets
from .hints import HintConfig, HintNet, hint_regressor, intermediate, train_hints
from .losses import KDConfig, hint_loss, kd_loss, logit_regression_loss, soften, top1_agreement
from .students import METHODS, MLP, STUDENTS, ThinCNN, ThinDeepCNN, build_student, train_student
from .targets import (cached_logits, distill, kd_objective, logit_regression_objective, pack_targets,
                      precompute_logits, regress_logits, unpack_targets, with_teacher_logits)

__all__ = [
    'losses', 'targets', 'hints', 'students', 'KDConfig', 'hint_loss', 'kd_loss', 'logit_regression_loss', 'soften',
    'top1_agreement', 'cached_logits', 'distill', 'kd_objective', 'logit_regression_objective', 'pack_targets',
    'precompute_logits', 'regress_logits', 'unpack_targets', 'with_teacher_logits', 'HintConfig', 'HintNet',
    'hint_regressor', 'intermediate', 'train_hints', 'METHODS', 'MLP', 'STUDENTS', 'ThinCNN', 'ThinDeepCNN',
    'build_student', 'train_student',
]
