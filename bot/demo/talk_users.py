"""Conversations of end users: plain-language questions, patient answers, grateful thanks."""

from __future__ import annotations

import random

from bot.demo.script import Line, Script, pick

PHONES = ("iPhone 13", "iPhone 15", "Pixel 8", "Samsung Galaxy A54", "Samsung S23", "old iPad", "Fairphone 5",
          "Xiaomi Redmi Note 12")
COMPUTERS = ("Windows 11 laptop", "MacBook", "Windows 10 PC", "iMac", "Chromebook", "Linux Mint laptop")


def _thanks(rng: random.Random) -> tuple[str, ...]:
    return (
        pick(rng, "That worked! Thank you so much {helper} 🙏", "Thanks {helper}, that fixed it!",
             "Perfect, it works now. Thanks a lot {helper}!", "You're a star {helper}, thank you!!",
             "Thank you {helper}! I would never have found that setting.",
             "thanks {helper}, all good now :)"),
    )


def basic_question(rng: random.Random) -> Script:
    phone, computer = rng.choice(PHONES), rng.choice(COMPUTERS)
    catalogue = [
        ("How do I sync my phone?",
         f"Hi, I just installed the Syncwell app on my {phone} but I can't work out how to get my contacts "
         "and "
         f"calendar onto it. My {computer} is already set up. What do I need to do?",
         ["In the app go to Settings → Accounts → Add account, choose \"Syncwell server\" and enter the same "
          "address you use on the computer (something like https://cloud.yourdomain). Then switch on "
          "Contacts "
          "and Calendar for that account.",
          "If you turned on two-step login you need an app password instead of your normal one: on the web "
          "page go to Settings → Security → App passwords, create one and paste it into the phone."],
         ["I found it, but it says \"Login failed\" even though my password is right :("]),
        ("Photos not uploading automatically",
         f"My photos stopped uploading from my {phone} about a week ago. They used to go up by themselves. "
         "Did I change something? I didn't touch anything I think.",
         ["Phones often stop background apps to save battery. Open the phone's settings → Battery → Syncwell "
          "and allow background activity, then open the app once so it catches up.",
          "Then it is probably the new \"only on Wi-Fi\" switch: in the app under Auto upload, check whether "
          "\"Upload on mobile data\" is off and whether you were on Wi-Fi."],
         ["Battery setting was already allowed :/ anything else I can try?"]),
        ("Calendar events showing twice",
         f"Every appointment shows up twice in the calendar on my {computer}. It's driving me crazy. How do "
         "I "
         "get rid of the duplicates?",
         ["That usually means the calendar is connected twice, once directly and once through your mail "
          "program. In the calendar app's accounts list remove one of the two Syncwell entries and the "
          "duplicates disappear after the next sync."],
         []),
        ("Forgot my password",
         "I can't log in any more, I forgot my password and the \"reset\" mail never arrives. Can someone "
         "help me? I have all my documents in there!",
         ["The reset mail comes from your server, not from us, so please check your spam folder first. If "
          "your account is on a server someone else runs (work, family), they can reset it for you in the "
          "admin page. Your files are safe either way."],
         []),
        ("It says my storage is full",
         "Got a message that my storage is full but I only have some photos. How can I see what is taking "
         "the space?",
         ["Deleted files stay in the trash and old versions are kept too, both count against your space. On "
          "the web page open Trash and empty it, and under Settings → Versions you can remove old versions."],
         ["Emptied the trash, it went from 100% to 62%. What a difference!"]),
        ("Sharing a folder with my family",
         "How can I share my holiday photos folder with my wife and kids? They have their own accounts.",
         ["Right-click the folder (or tap the three dots on the phone) → Share → type their names. You can "
          "choose whether they may only look or also add photos."],
         []),
        ("How do I update the desktop app?",
         f"The app on my {computer} keeps telling me a new version is available, but when I click update "
         "nothing happens. How do I update it?",
         ["Download the newest installer from the website and run it over the old one, your settings stay. "
          "The built-in updater needs admin rights, which is why the button does nothing for you."],
         []),
        ("Deleted a folder by mistake",
         "I deleted a whole folder by accident this morning!! Is there any way to get it back???",
         ["Don't worry, it's in the trash: open the web page, click Trash at the bottom left, select the "
          "folder "
          "and click Restore. It stays there for 30 days."],
         []),
        ("Sync is very slow",
         f"Syncing a few hundred photos from my {computer} takes the whole evening. Is that normal? My "
         "internet is fine otherwise.",
         ["Check the bandwidth limit in the app's settings under Network, it's sometimes set to a low value. "
          "Also, the first upload is the slow one, after that only changes are sent."],
         ["It was set to 100 KB/s! No idea how that happened."]),
        ("Moving to a new computer",
         "I'm getting a new laptop next week. What do I have to do so that all my files are on the new one?",
         ["Nothing special: install Syncwell on the new laptop, log in with the same account and it will "
          "download everything. Keep the old one until you see all your files on the new one."],
         []),
        ("What does \"conflict\" mean?",
         f"My {phone} keeps showing notifications about a \"conflicted copy\". What does it mean and did I "
         "lose something?",
         ["It means the same file was changed in two places before they could sync, so Syncwell kept both "
          "versions. Nothing is lost: open both files, keep the one you want and delete the other."],
         []),
        ("Is my data safe?",
         "Maybe a silly question but is my data encrypted? I keep my tax documents in there.",
         ["Not silly at all! The connection is always encrypted. Whether the files are encrypted on the "
          "server "
          "depends on how your server is set up; whoever runs your server can tell you. You can also turn on "
          "end-to-end encryption for a single folder in the app."],
         ["How do I know who runs my server? My nephew set it up for me."]),
    ]
    subject, opener, answers, followups = rng.choice(catalogue)
    # Later answers only make sense after their follow-up.
    answers = answers[: len(followups) + 1]
    while len(answers) < len(followups) + 1:
        answers.append(pick(rng, "Hmm, then please send a screenshot of the error and I'll have a look.",
                            "Then best ask whoever runs your server, they can see the details in the logs."))
    return Script(
        kind="question_basic",
        subject=subject,
        opener=Line(opener),
        answers=tuple(Line(a) for a in answers),
        followups=tuple(Line(f) for f in followups),
        thanks=_thanks(rng),
        chatter=(pick(rng, "Same problem here!", "+1, happens to me too", "I have the same question",
                      "Following, same issue on my phone."),),
        technical=False,
    )
