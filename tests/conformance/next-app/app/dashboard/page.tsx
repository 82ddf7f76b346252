import { UserButton } from '@clerk/nextjs';
import { auth, currentUser } from '@clerk/nextjs/server';

export default async function Dashboard() {
  const { userId } = await auth();
  const user = await currentUser();
  return (
    <main>
      <h1>Dashboard</h1>
      <p>
        User id: <span id="user-id">{userId}</span>
      </p>
      <p>
        Email: <span id="user-email">{user?.primaryEmailAddress?.emailAddress}</span>
      </p>
      <UserButton />
    </main>
  );
}
