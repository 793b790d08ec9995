"""Stand-ins for packages that course notebooks import and a grading machine may lack.

``mitdeeplearning`` is the MIT Introduction to Deep Learning course's helper package
(``import mitdeeplearning as mdl``). The course's notebooks install it with
``!pip install mitdeeplearning``, which the grader records and does not run (no network).
An assignment's ``[[provide]]`` entries copy this stand-in under the notebook's home, and its
prelude calls ``grader.child.profile.use_stand_ins``, which puts it *last* on ``sys.path``:
where the real package is installed, the course's own code runs; where it is not, the
stand-in does. It reproduces what the labs use: the same classes and functions, the same
data handling (so a notebook trains on the same batches either way); plots are drawn with
matplotlib, as the course's are, except the live loss plot, which only keeps its data.

``comet_ml`` is the experiment tracker the course's 2024 and later notebooks log their
training to. Its stand-in logs nothing and is used even where the real package is installed
(a grading run has no network and must not send anything to a student's account); the
feedback says that tracking was off.
"""
